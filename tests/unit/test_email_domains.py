"""An address at a domain the validator took before gets the validator's own verdict.

`ledger.events._email` skips email-validator for a plain local part at a domain it
has already judged valid. These tests hold the shortcut to the validator: over many
addresses, most of them at remembered domains and near the edges (dots, lengths,
characters the shortcut leaves to the validator), the two agree on every one.
"""

from __future__ import annotations

import random

import email_validator
import pytest
from email_validator import EmailNotValidError, validate_email

from ledger import events as ev


def _validator_takes(address: str) -> bool:
    try:
        validate_email(address, check_deliverability=False)
    except EmailNotValidError:
        return False
    return True


def _invledger_takes(address: str) -> bool:
    try:
        ev._email(address)
    except ValueError:
        return False
    return True


DOMAINS = [
    "example.com",
    "mail.example.org",
    "EXAMPLE.NET",
    "a-b.co.uk",
    "x" * 63 + ".com",
    ".".join(["d" * 60] * 4),  # 243 characters
    "localhost",  # special use: refused
    "printer.local",  # special use: refused
    "example.123",  # a numeric top-level domain: refused
    "-bad.com",
    "ab--cd.com",
    "exa_mple.com",
    "bücher.de",
    "example..com",
]
LOCAL_CHARS = "abcXYZ019_+-." + "!#$%&'*/=?^`{|}~\" @<>()[]\\,;:é\x00"


def _local(rng: random.Random) -> str:
    length = rng.choice([1, 2, 5, 20, 63, 64, 65, 120, 200])
    common = "abcXYZ019_+-."
    return "".join(
        rng.choice(common if rng.random() < 0.97 else LOCAL_CHARS) for _ in range(length)
    )


@pytest.fixture(autouse=True)
def _no_remembered_domains(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ev, "_VALID_DOMAINS", set())


def test_the_shortcut_agrees_with_the_validator_on_every_address(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rng = random.Random(7)
    # Given every domain judged once already (those valid are remembered)
    for domain in DOMAINS:
        _invledger_takes(f"first@{domain}")
    assert {"example.com", "a-b.co.uk", "EXAMPLE.NET"} <= ev._VALID_DOMAINS
    assert not {"localhost", "printer.local", "example.123", "exa_mple.com"} & ev._VALID_DOMAINS

    # When many more addresses at them are checked, then each verdict is the validator's
    addresses = [f"{_local(rng)}@{rng.choice(DOMAINS)}" for _ in range(6000)]
    addresses += [f"{local}@example.com" for local in (".a", "a.", "a..b", "a.b", "", "a b")]
    addresses += ["a@example.com@example.com", "Name <a@example.com>", "a@example.com "]
    asked: list[str] = []

    def counted(address: str, **options: object) -> object:
        asked.append(address)
        return validate_email(address, **options)  # type: ignore[arg-type]

    monkeypatch.setattr(email_validator, "validate_email", counted)
    verdicts = {a: _invledger_takes(a) for a in addresses}
    monkeypatch.undo()
    disagree = [a for a, taken in verdicts.items() if taken != _validator_takes(a)]
    assert disagree == []
    # And both verdicts occurred, and most valid addresses took the shortcut
    valid = [a for a, taken in verdicts.items() if taken]
    assert 1000 < len(valid) < len(verdicts) - 1000
    assert len(set(valid) - set(asked)) > len(valid) // 2


def test_an_address_too_long_at_a_remembered_domain_is_refused() -> None:
    domain = ".".join(["d" * 60] * 4)
    assert _invledger_takes(f"a@{domain}")
    assert domain in ev._VALID_DOMAINS
    # 10 + 1 + 243 = 254 characters is the most the validator takes
    assert _invledger_takes(f"{'b' * 10}@{domain}")
    assert not _invledger_takes(f"{'b' * 11}@{domain}")


def test_a_refused_address_names_the_validators_reason() -> None:
    with pytest.raises(ValueError, match="not a valid email address: .*special-use"):
        ev._email("someone@printer.local")


def test_a_domain_longer_in_its_ascii_form_is_always_asked_of_the_validator() -> None:
    # Given an international domain that the validator takes
    assert _invledger_takes("first@bücher.de")
    # When an address there fits 254 characters as written but not as IDNA ASCII
    # (xn--bcher-kva.de), then it is refused
    address = "b" * 243 + "@bücher.de"
    assert not _validator_takes(address)
    assert not _invledger_takes(address)
