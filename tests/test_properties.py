"""Property tests (hypothesis) for the timestamp parser, the cron forecasts
around daylight-saving changes, and the DAG layout."""

from __future__ import annotations

import datetime as dt
import random
from zoneinfo import ZoneInfo

from croniter import croniter
from hypothesis import example, given, settings
from hypothesis import strategies as st

import flow_web

UTC = dt.timezone.utc

# -- timestamps ------------------------------------------------------------------

moments = st.datetimes(
    min_value=dt.datetime(1970, 1, 2),
    max_value=dt.datetime(9998, 12, 30),
    timezones=st.just(UTC),
)
# Offsets that real time zones use, from -12:00 to +14:00 in whole minutes.
offsets = st.integers(min_value=-12 * 60, max_value=14 * 60).map(
    lambda minutes: dt.timezone(dt.timedelta(minutes=minutes))
)


def offset_text(moment: dt.datetime, colon: bool) -> str:
    minutes = int(moment.utcoffset() / dt.timedelta(minutes=1))
    sign = "-" if minutes < 0 else "+"
    hours, rest = divmod(abs(minutes), 60)
    return f"{sign}{hours:02d}{':' if colon else ''}{rest:02d}"


def contract_text(moment: dt.datetime, form: str, digits: int, zone) -> str:
    """Write `moment` as a RunLog or API timestamp: `form` picks the offset
    (`Z`, `+00:00`, `+0000`, another offset, none), `digits` the number of
    fraction digits (0 to 9, the ones past microseconds being zeros)."""
    local = moment.astimezone(zone if form in ("offset", "compact") else UTC)
    text = local.strftime("%Y-%m-%dT%H:%M:%S")
    if digits:
        text += "." + f"{local.microsecond:06d}000"[:digits]
    suffixes = {
        "Z": "Z",
        "+00:00": "+00:00",
        "+0000": "+0000",
        "none": "",
        "offset": offset_text(local, colon=True),
        "compact": offset_text(local, colon=False),
    }
    return text + suffixes[form]


def truncated(moment: dt.datetime, digits: int) -> dt.datetime:
    kept = min(digits, 6)
    micros = int(f"{moment.microsecond:06d}"[:kept].ljust(6, "0")) if kept else 0
    return moment.replace(microsecond=micros)


@given(
    moment=moments,
    form=st.sampled_from(["Z", "+00:00", "+0000", "none", "offset", "compact"]),
    digits=st.integers(min_value=0, max_value=9),
    zone=offsets,
)
def test_timestamp_round_trip(moment, form, digits, zone):
    text = contract_text(moment, form, digits, zone)

    assert flow_web.parse_timestamp(text) == truncated(moment, digits)


@given(moment=moments, digits=st.integers(min_value=0, max_value=9))
def test_timestamp_space_separator(moment, digits):
    text = contract_text(moment, "Z", digits, UTC).replace("T", " ")

    assert flow_web.parse_timestamp(text) == truncated(moment, digits)


@given(moment=moments)
def test_api_time_parses_back(moment):
    text = flow_web.format_api_time(moment)

    assert flow_web.parse_timestamp(text) == truncated(moment, 3)


def check_parse_result(text) -> None:
    result = flow_web.parse_timestamp(text)
    assert result is None or result.utcoffset() == dt.timedelta(0)


@given(st.text())
def test_timestamp_parser_accepts_any_text(text):
    check_parse_result(text)


# Text shaped like a timestamp, with out-of-range fields, extreme years and
# offsets, which the parser's pattern lets through to datetime.
timestamp_like = st.from_regex(
    r"\A[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}(:[0-9]{2}([.,][0-9]{1,12})?)?"
    r"(Z|z|UTC|[+-][0-9]{2}:?[0-9]{2})?\Z"
)


@given(timestamp_like)
def test_timestamp_parser_accepts_timestamp_like_text(text):
    check_parse_result(text)


def test_timestamp_at_the_ends_of_time_is_none():
    assert flow_web.parse_timestamp("0001-01-01T00:00:00+01:00") is None
    assert flow_web.parse_timestamp("9999-12-31T23:59:59-01:00") is None


# -- cron forecasts across daylight-saving changes ---------------------------------

# Spring forward and fall back in New York (March 8, November 1) and Berlin
# (March 29, October 25) in 2026.
DST_DATES = (
    dt.datetime(2026, 3, 8, tzinfo=UTC),
    dt.datetime(2026, 3, 29, tzinfo=UTC),
    dt.datetime(2026, 10, 25, tzinfo=UTC),
    dt.datetime(2026, 11, 1, tzinfo=UTC),
)
ZONES = ("America/New_York", "Europe/Berlin")
# The reference iteration starts this long before the instant and runs this
# long after it, or a week longer for crons that did not tick in that time
# (those that run on one weekday).
ITERATION_MARGIN = dt.timedelta(days=1)
WEEK = dt.timedelta(days=7)

crons = st.builds(
    "{} {} * * {}".format,
    st.sampled_from(["0", "5", "30", "59", "*/15", "*/7", "0,30"]),
    st.sampled_from(["*", "0", "1", "2", "3", "4", "23", "*/2", "1-3", "2,14"]),
    st.sampled_from(["*", "0", "1-5", "6"]),
)
instants = st.builds(
    lambda day, seconds: day + dt.timedelta(seconds=seconds),
    st.sampled_from(DST_DATES),
    st.integers(min_value=-36 * 3600, max_value=36 * 3600),
)


def iterated_ticks(expression: str, zone: str, around: dt.datetime) -> list:
    """Every tick croniter's own iteration yields from a margin before
    `around` to a margin after it, in UTC, with at least one on each side."""
    for margin in (ITERATION_MARGIN, ITERATION_MARGIN + WEEK):
        start = (around - margin).astimezone(ZoneInfo(zone))
        schedule = croniter(expression, start)
        ticks = []
        while not ticks or ticks[-1] <= around + margin:
            ticks.append(schedule.get_next(dt.datetime).astimezone(UTC))
        if ticks[0] < around < ticks[-1]:
            return ticks
    raise AssertionError(f"{expression} did not tick within a week of {around}")


# Instants inside and next to the skipped and the repeated hour, with crons
# that tick in it.
DST_EXAMPLES = [
    ("30 2 * * *", "America/New_York", dt.datetime(2026, 3, 8, 6, 0, tzinfo=UTC)),
    ("30 2 * * *", "America/New_York", dt.datetime(2026, 3, 8, 7, 10, tzinfo=UTC)),
    ("30 1 * * *", "America/New_York", dt.datetime(2026, 11, 1, 5, 15, tzinfo=UTC)),
    ("30 1 * * *", "America/New_York", dt.datetime(2026, 11, 1, 6, 15, tzinfo=UTC)),
    ("*/15 2 * * *", "Europe/Berlin", dt.datetime(2026, 3, 29, 0, 50, tzinfo=UTC)),
    ("30 2 * * *", "Europe/Berlin", dt.datetime(2026, 10, 25, 0, 45, tzinfo=UTC)),
    ("30 2 * * *", "Europe/Berlin", dt.datetime(2026, 10, 25, 1, 15, tzinfo=UTC)),
    ("0 2 * * 0", "Europe/Berlin", dt.datetime(2026, 10, 25, 0, 59, tzinfo=UTC)),
]


def with_dst_examples(test):
    for expression, zone, instant in DST_EXAMPLES:
        test = example(expression=expression, zone=zone, instant=instant)(test)
    return test


@with_dst_examples
@settings(max_examples=300, deadline=None)
@given(expression=crons, zone=st.sampled_from(ZONES), instant=instants)
def test_next_tick_matches_iteration(expression, zone, instant):
    ticks = iterated_ticks(expression, zone, instant)
    expected = min(tick for tick in ticks if tick > instant)

    assert flow_web.next_tick(expression, zone, instant) == expected


@with_dst_examples
@settings(max_examples=300, deadline=None)
@given(expression=crons, zone=st.sampled_from(ZONES), instant=instants)
def test_previous_tick_matches_iteration(expression, zone, instant):
    ticks = iterated_ticks(expression, zone, instant)
    expected = max(tick for tick in ticks if tick < instant)

    assert flow_web.previous_tick(expression, zone, instant) == expected


@settings(max_examples=100, deadline=None)
@given(
    expression=crons,
    zone=st.sampled_from(ZONES),
    start=instants,
    steps=st.lists(st.integers(min_value=1, max_value=4 * 3600), max_size=20),
)
def test_forecaster_matches_iteration(expression, zone, start, steps):
    forecaster = flow_web.Forecaster()
    now = start
    for step in [0, *steps]:
        now += dt.timedelta(seconds=step)
        ticks = iterated_ticks(expression, zone, now)
        expected = (
            max(tick for tick in ticks if tick < now),
            min(tick for tick in ticks if tick > now),
        )

        assert forecaster.bracket(expression, zone, now) == expected


# -- DAG layout ----------------------------------------------------------------------

node_names = st.lists(
    st.text(alphabet="abcdefghij_.", min_size=1, max_size=4),
    min_size=1,
    max_size=14,
    unique=True,
)
# Sizes in tenths of a pixel, like measure_node's, most not binary fractions.
sizes = st.tuples(
    st.integers(min_value=400, max_value=3000).map(lambda tenths: tenths / 10),
    st.integers(min_value=200, max_value=900).map(lambda tenths: tenths / 10),
)


@st.composite
def graphs(draw, acyclic: bool):
    """(nodes {name: (width, height)}, edges) without self-loops; with
    `acyclic`, every edge runs from an earlier to a later node of a random
    order, so the graph has no cycle."""
    names = draw(node_names)
    nodes = {name: draw(sizes) for name in names}
    if len(names) < 2:
        return nodes, []
    pairs = st.tuples(st.sampled_from(names), st.sampled_from(names))
    edges = draw(st.lists(pairs.filter(lambda pair: pair[0] != pair[1]), max_size=30))
    if acyclic:
        order = {name: index for index, name in enumerate(draw(st.permutations(names)))}
        edges = [tuple(sorted(edge, key=order.get)) for edge in edges]
    return nodes, edges


def ranks(layout: dict) -> dict:
    return {node["name"]: node["rank"] for node in layout["nodes"]}


def check_edges_point_downstream(nodes: dict, edges: list) -> dict:
    layout = flow_web.layout_dag(nodes, edges)
    rank = ranks(layout)
    drawn = [(edge["from"], edge["to"]) for edge in layout["edges"]]

    assert sorted(drawn) == sorted(set(edges))
    for edge in layout["edges"]:
        upstream, downstream = edge["from"], edge["to"]
        if edge["reversed"]:
            assert rank[downstream] < rank[upstream], edge
        else:
            assert rank[upstream] < rank[downstream], edge
    return layout


@given(graphs(acyclic=True))
def test_layout_dag_edges_point_downstream(graph):
    nodes, edges = graph
    layout = check_edges_point_downstream(nodes, edges)

    assert layout["reversed_edges"] == []
    assert [edge["reversed"] for edge in layout["edges"]] == [False] * len(
        layout["edges"]
    )


@given(graphs(acyclic=False))
def test_layout_cyclic_edges_point_downstream(graph):
    nodes, edges = graph
    layout = check_edges_point_downstream(nodes, edges)
    reversed_edges = sorted(
        [edge["from"], edge["to"]] for edge in layout["edges"] if edge["reversed"]
    )

    assert sorted(layout["reversed_edges"]) == reversed_edges


@given(graphs(acyclic=False))
def test_layout_boxes_do_not_overlap(graph):
    nodes, edges = graph
    layout = flow_web.layout_dag(nodes, edges)
    boxes = layout["nodes"]

    assert sorted(box["name"] for box in boxes) == sorted(nodes)
    for box in boxes:
        assert (box["width"], box["height"]) == nodes[box["name"]]
        assert box["x"] >= 0
        assert box["y"] >= 0
        assert box["x"] + box["width"] <= layout["width"]
        assert box["y"] + box["height"] <= layout["height"]
    for index, first in enumerate(boxes):
        for second in boxes[index + 1 :]:
            apart = (
                first["x"] + first["width"] <= second["x"]
                or second["x"] + second["width"] <= first["x"]
                or first["y"] + first["height"] <= second["y"]
                or second["y"] + second["height"] <= first["y"]
            )
            assert apart, (first, second)


@given(graphs(acyclic=False), st.randoms(use_true_random=False))
def test_layout_ignores_input_order(graph, rng: random.Random):
    nodes, edges = graph
    names = list(nodes)
    rng.shuffle(names)
    shuffled_edges = list(edges)
    rng.shuffle(shuffled_edges)
    shuffled_nodes = {name: nodes[name] for name in names}

    assert flow_web.layout_dag(shuffled_nodes, shuffled_edges) == (
        flow_web.layout_dag(nodes, edges)
    )
