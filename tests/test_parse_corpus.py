"""The parser against the whole labelled corpus: fails below issue 3's thresholds, printing the misses."""

from __future__ import annotations

from tests.conftest import CORPUS
from tests.parse_scoring import score_corpus


def test_corpus_thresholds() -> None:
    score = score_corpus(CORPUS)
    report = "\n".join(score.misses) + "\n" + score.summary()
    print(report)
    assert score.special_ok == score.special, report
    assert score.recipients_found >= 0.99 * score.messages_with_recipients, report
    assert score.reason_ok >= 0.95 * score.rows, report
    assert score.hard_ok >= 0.98 * score.rows, report
