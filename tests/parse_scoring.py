"""Scoring of the mail parser against the labelled corpus (used by tests and by hand).

Run ``python -m tests.parse_scoring`` to print the numbers and every miss.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from ingest.parse import parse_bytes

KIND_OK = {
    "bounce": ("bounce", "delay"),
    "arf": ("complaint",),
    "autoreply": ("autoreply",),
    "delivered": ("delivered",),
    "not-bounce": ("other",),
}

#: Labels we do not score, each with the reason the label is wrong for its message.
EXCLUDED: dict[tuple[str, int], str] = {}


@dataclass
class Score:
    messages_with_recipients: int = 0
    recipients_found: int = 0
    rows: int = 0
    reason_ok: int = 0
    hard_ok: int = 0
    special: int = 0
    special_ok: int = 0
    kind_total: int = 0
    kind_ok: int = 0
    misses: list[str] = field(default_factory=list)

    def pct(self, a: int, b: int) -> float:
        return 100.0 * a / b if b else 100.0

    def summary(self) -> str:
        return (
            f"recipients {self.recipients_found}/{self.messages_with_recipients} "
            f"({self.pct(self.recipients_found, self.messages_with_recipients):.1f}%), "
            f"reason {self.reason_ok}/{self.rows} ({self.pct(self.reason_ok, self.rows):.1f}%), "
            f"hard/soft {self.hard_ok}/{self.rows} ({self.pct(self.hard_ok, self.rows):.1f}%), "
            f"kind {self.kind_ok}/{self.kind_total}, autoreply/delivered/not-bounce {self.special_ok}/{self.special}"
        )


def score_corpus(corpus: Path) -> Score:
    score = Score()
    for line in (corpus / "labels.jsonl").read_text().splitlines():
        label = json.loads(line)
        name = label["file"]
        msg = parse_bytes((corpus / name).read_bytes(), source=name)
        kind_ok = msg.kind in KIND_OK[label["kind"]]
        score.kind_total += 1
        score.kind_ok += kind_ok
        if not kind_ok:
            score.misses.append(f"{name}: kind {msg.kind!r}, label {label['kind']!r} {msg.error or ''}")
        if label["kind"] in ("autoreply", "delivered", "not-bounce"):
            score.special += 1
            score.special_ok += kind_ok and (label["kind"] != "not-bounce" or not msg.recipients)
        ours = [r.address.lower() for r in msg.recipients]
        expected = label["recipients"]
        if expected:
            score.messages_with_recipients += 1
            if all(e.lower() in ours for e in expected):
                score.recipients_found += 1
            else:
                score.misses.append(f"{name}: recipients {ours}, label {expected}")
        used: set[int] = set()
        for i, res in enumerate(label["results"] or []):
            if (name, i) in EXCLUDED:
                continue
            score.rows += 1
            idx = None
            if expected and i < len(expected):
                for j, r in enumerate(msg.recipients):
                    if j not in used and r.address.lower() == expected[i].lower():
                        idx = j
                        break
            elif i < len(msg.recipients):
                idx = i
            if idx is None:
                score.misses.append(f"{name}[{i}]: no recipient for label row {res}")
                continue
            used.add(idx)
            r = msg.recipients[idx]
            if r.reason == res["reason"]:
                score.reason_ok += 1
            else:
                score.misses.append(
                    f"{name}[{i}]: reason {r.reason!r} label {res['reason']!r} "
                    f"(status {r.status!r}/{res['status']!r} reply {r.reply!r}/{res['reply']!r}) diag {r.diagnostic[:150]!r}"
                )
            if (r.severity == "hard") == bool(res["hard"]):
                score.hard_ok += 1
            else:
                score.misses.append(f"{name}[{i}]: severity {r.severity!r} label hard={res['hard']} status {r.status!r} reason {r.reason!r}")
    return score


if __name__ == "__main__":
    import sys

    s = score_corpus(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent.parent.parent / "shared" / "corpus")
    for m in s.misses:
        print(m)
    print(s.summary())
