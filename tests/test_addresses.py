"""The one address normalisation every path stores and matches with."""

from __future__ import annotations

import pytest
from hypothesis import given, settings, strategies as st

from models.addresses import domain_of, normalize_email


@pytest.mark.parametrize("raw,stored", [
    ("  Anna.Hansen@Example.ORG ", "anna.hansen@example.org"),
    ("<anna@example.org>", "anna@example.org"),
    ("mailto:Anna@Example.org", "anna@example.org"),
    ("mailto:<anna@example.org>", "anna@example.org"),
    (" .<a@b.example>", "a@b.example"),
    ("< a@b.example >", "a@b.example"),
    ("a@b.example.", "a@b.example"),
    ("info@Bücher.de", "info@xn--bcher-kva.de"),
    ("info@xn--bcher-kva.de", "info@xn--bcher-kva.de"),
    ("info@bücher。de", "info@xn--bcher-kva.de"),
    ("no-at-sign", "no-at-sign"),
    ("<user@example.com>\u200b", "user@example.com"),  # pasted with a zero-width space
    ("a@b.example>。", "a@b.example"),
])
def test_stored_form(raw: str, stored: str) -> None:
    assert normalize_email(raw) == stored
    assert normalize_email(stored) == stored


_pieces = st.sampled_from(["<", ">", ".", " ", "\t", "@", "mailto:", "MAILTO:", "ü", "。", "Ä", "ß", "a", "B", "-",
                           "xn--", "\u3000", "İ", "\u200b", "\u00ad", "＜", "＞", "．"])


@settings(max_examples=1000, deadline=None)
@given(st.lists(_pieces, max_size=12).map("".join) | st.text(max_size=30))
def test_normalising_a_stored_form_changes_nothing(raw: str) -> None:
    """Every path may normalise what another stored: the second pass must be a no-op."""
    once = normalize_email(raw)
    assert normalize_email(once) == once


def test_domain_of() -> None:
    assert domain_of("a@b.example") == "b.example"
    assert domain_of("nodomain") == ""
