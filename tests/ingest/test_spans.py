"""Cutting tracks into clips."""

from gestsearch.ingest.spans import ClipPolicy, Span, phrase_spans, window_spans


def words(*spans):
    return [(f"w{i}", s, e) for i, (s, e) in enumerate(spans)]


def test_phrases_split_at_pauses_and_merge_short_ones():
    policy = ClipPolicy(min_s=2.0, max_s=8.0, pause_s=0.5, pad_s=0.0)
    ws = words((0, 10), (12, 30), (31, 60), (100, 140), (142, 160))  # a 1.6 s pause before frame 100
    spans = phrase_spans(ws, 0, 1000, policy)
    assert [(s.start_frame, s.end_frame, len(s.words)) for s in spans] == [(0, 60, 3), (100, 160, 2)]
    short = words((0, 10), (40, 45), (80, 200))  # first phrases < 2 s are merged with the nearer neighbour
    merged = phrase_spans(short, 0, 1000, policy)
    assert [(s.start_frame, s.end_frame) for s in merged] == [(0, 45), (80, 200)]


def test_long_phrase_is_split_and_padding_stays_in_track():
    policy = ClipPolicy(max_s=4.0, pad_s=0.5)
    ws = words(*[(i * 10, i * 10 + 9) for i in range(30)])  # 12 s of continuous speech
    spans = phrase_spans(ws, 0, 300, policy)
    assert all((s.end_frame - s.start_frame + 1) / 25 <= 4.0 + 1.0 for s in spans)
    assert spans[0].start_frame == 0 and spans[-1].end_frame == 299
    assert sum(len(s.words) for s in spans) == 30


def test_words_outside_the_track_are_ignored():
    spans = phrase_spans(words((0, 10), (500, 520)), 400, 600, ClipPolicy(pad_s=0))
    assert [(s.start_frame, s.end_frame) for s in spans] == [(500, 520)]


def test_windows():
    assert window_spans(0, 50) == [Span(0, 49)]
    spans = window_spans(0, 260, ClipPolicy(window_s=4.0, hop_s=2.0))
    assert [(s.start_frame, s.end_frame) for s in spans] == [(0, 99), (50, 149), (100, 199), (150, 249), (160, 259)]
    assert window_spans(10, 10) == []
