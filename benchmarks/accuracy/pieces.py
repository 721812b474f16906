"""The ``music21`` accuracy set: which corpus pieces, and the fixed rules that make each item.

Conventions
-----------
* ``PIECES`` is the list (corpus path, ABC tune number or None, first measure index, meter the
  excerpt must have). It was chosen to cover 4/4, 3/4, 2/4, 6/8, 9/8 and 12/8 with major and
  minor keys from the polyphonic music in music21's corpus (Bach chorales, Corelli, Haydn, Mozart,
  Beethoven and Schumann quartets, piano music by Joplin, C. P. E. Bach and Clara Schumann, songs);
  the corpus holds almost no polyphonic 9/8 or 12/8, so those meters add a few monophonic folk
  tunes (tagged ``monophonic``; no chord truth).
* Every per-item choice is a rule on the item's position ``k`` inside its meter group (list order),
  never on results: tempo (golden-ratio sequence over 70–160 BPM for simple meters, 70–120
  dotted-quarter BPM for compound ones), drums (``k % 8 in (2, 5)``, about a quarter), split
  (``k`` even → dev, odd → test, so both splits get every meter), General MIDI programs (cycled by
  the global index). The excerpt is the number of whole measures closest to 40 s at that tempo
  (30–60 s when the piece is long enough).
"""

from __future__ import annotations

from dataclasses import dataclass

TARGET_SECONDS = 40.0
MIN_SECONDS = 30.0
MAX_SECONDS = 60.0

# (corpus path, tune number, first measure index, meter)
PIECES: tuple[tuple[str, int | None, int, str], ...] = (
    # 4/4
    ("bach/bwv66.6", None, 0, "4/4"),
    ("bach/bwv1.6", None, 0, "4/4"),
    ("corelli/opus3no1/1grave", None, 0, "4/4"),
    ("haydn/opus74no1/movement1", None, 0, "4/4"),
    ("mozart/k155/movement1", None, 0, "4/4"),
    ("mozart/k156/movement2", None, 0, "4/4"),
    ("mozart/k458/movement3", None, 0, "4/4"),
    ("mozart/k80/movement2", None, 0, "4/4"),
    ("schumann_robert/opus41no1/movement4", None, 0, "4/4"),
    ("beach/prayer_of_a_tired_child", None, 0, "4/4"),
    ("cpebach/h186", None, 0, "4/4"),
    ("liliuokalani/aloha_oe", None, 0, "4/4"),
    # 3/4
    ("bach/bwv269", None, 0, "3/4"),
    ("bach/bwv299", None, 0, "3/4"),
    ("mozart/k155/movement2", None, 0, "3/4"),
    ("mozart/k80/movement1", None, 0, "3/4"),
    ("mozart/k458/movement2", None, 0, "3/4"),
    ("schubert/Lindenbaum", None, 0, "3/4"),
    ("schumann_clara/polonaise_op1n1", None, 0, "3/4"),
    ("mozart/k80/movement3", None, 0, "3/4"),
    ("mozart/k156/movement3", None, 0, "3/4"),
    ("weber/concertino_clarinet", None, 0, "3/4"),
    # 2/4
    ("beethoven/opus18no1/movement4.mxl", None, 0, "2/4"),
    ("beethoven/opus59no1/movement3", None, 0, "2/4"),
    ("haydn/opus1no1/movement5", None, 0, "2/4"),
    ("haydn/opus74no1/movement4", None, 0, "2/4"),
    ("mozart/k155/movement3", None, 0, "2/4"),
    ("mozart/k458/movement4", None, 0, "2/4"),
    ("schumann_robert/dichterliebe_no2", None, 0, "2/4"),
    ("joplin/maple_leaf_rag", None, 0, "2/4"),
    ("beethoven/opus59no1/movement4", None, 0, "2/4"),
    # 6/8
    ("beethoven/opus59no2/movement1", None, 0, "6/8"),
    ("beethoven/opus59no3/movement2", None, 0, "6/8"),
    ("haydn/opus1no1/movement1", None, 0, "6/8"),
    ("mozart/k458/movement1", None, 0, "6/8"),
    ("schumann_clara/opus17/movement3", None, 0, "6/8"),
    ("schumann_robert/opus41no1/movement2", None, 0, "6/8"),
    ("johnson_j_r/lift_every_voice", None, 0, "6/8"),
    ("beethoven/opus18no5", None, 0, "6/8"),
    ("weber/concertino_clarinet", None, 146, "6/8"),
    # 9/8
    ("beethoven/opus18no1/movement2.mxl", None, 0, "9/8"),
    ("beethoven/opus18no1/movement2.mxl", None, 90, "9/8"),  # the recapitulation, D minor
    ("miscFolk/northumbrianminstrelsyopus.abc", 35, 0, "9/8"),
    ("airdsAirs/book5.abc", 823, 0, "9/8"),
    ("oneills1850/1116-1135_mh.abc", 1118, 0, "9/8"),
    # 12/8
    ("bach/bwv248.23-2", None, 0, "12/8"),
    ("oneills1850/0759-0810.abc", 787, 0, "12/8"),
    ("oneills1850/0951-0981.abc", 980, 0, "12/8"),
    ("ryansMammoth/OffSheGoesJig.abc", None, 0, "12/8"),
)

COMPOUND = {"6/8", "9/8", "12/8"}
MELODY_PROGRAMS = (73, 68, 40, 71, 56, 74)  # flute, oboe, violin, clarinet, trumpet, recorder
ACCOMP_PROGRAMS = (0, 48, 19, 0, 46, 24)  # piano, strings, church organ, piano, harp, nylon gtr
BASS_PROGRAMS = {0: 0, 48: 42, 19: 19, 46: 32, 24: 32}  # lowest part of a ≥3-part score


@dataclass(frozen=True)
class PieceRule:
    id: str
    path: str
    number: int | None
    first_measure: int
    meter: str
    tempo_bpm: float
    drums: bool
    split: str
    melody_program: int
    accomp_program: int
    bass_program: int


def rules() -> list[PieceRule]:
    """The fixed per-item choices for every entry of ``PIECES``."""
    out, seen = [], {}
    golden = 0.6180339887498949
    for g, (path, number, first, meter) in enumerate(PIECES):
        k = seen.get(meter, 0)
        seen[meter] = k + 1
        frac = (0.5 + k * golden) % 1.0
        lo, hi = (70.0, 120.0) if meter in COMPOUND else (70.0, 160.0)
        tempo = float(round(lo + frac * (hi - lo)))
        slug = path.rsplit(".", 1)[0] if path.endswith((".mxl", ".abc", ".xml")) else path
        slug = slug.replace("/", "-")
        if number is not None:
            slug += f"-{number}"
        if first:
            slug += f"-m{first}"
        pid = f"m{g + 1:02d}-{meter.replace('/', '-')}-{slug}"
        acc = ACCOMP_PROGRAMS[g % len(ACCOMP_PROGRAMS)]
        out.append(PieceRule(pid, path, number, first, meter, tempo, k % 8 in (2, 5),
                             "dev" if k % 2 == 0 else "test",
                             MELODY_PROGRAMS[g % len(MELODY_PROGRAMS)], acc, BASS_PROGRAMS[acc]))
    return out
