"""Tests of the DAG layout section of flow_web: each phase on small graphs with
known answers, then invariants of layout_dag on seeded and generated graphs."""

from __future__ import annotations

import itertools
import json
import random
import re
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import flow_web
from flow_web import (
    LAYOUT_NODE_GAP_PX,
    LAYOUT_RANK_GAP_PX,
    crossing_count,
    dag_assign_coordinates,
    dag_assign_ranks,
    dag_break_cycles,
    dag_insert_dummies,
    dag_order_ranks,
    dag_pack_components,
    dag_route_edges,
    layout_dag,
    measure_node,
)

BOX = (100.0, 40.0)
DIAMOND = [("a", "b"), ("a", "c"), ("b", "d"), ("c", "d")]


def boxes(names, size=BOX):
    return {name: size for name in names}


def path_points(path):
    """Return the (x, y) points of SVG path data, control points included."""
    numbers = [float(word) for word in re.findall(r"-?[\d.]+", path)]
    return list(zip(numbers[0::2], numbers[1::2]))


def node_table(layout):
    return {node["name"]: node for node in layout["nodes"]}


def random_graph(rng, node_count, edge_count):
    names = [f"n{index:02d}" for index in range(node_count)]
    edges = [(rng.choice(names), rng.choice(names)) for _ in range(edge_count)]
    sizes = {
        name: (rng.choice((60.0, 90.7, 140.0)), rng.choice((30.0, 33.3, 45.0)))
        for name in names
    }
    return sizes, edges


# measure_node -------------------------------------------------------------------------


def test_measure_node_two_lines():
    # 18 cells of 11 px * 0.6 = 118.8 px of text plus 2 * 10 px padding. Lines are
    # 12 * 1.4 + 11 * 1.4 = 32.2 px tall plus 2 * 6 px padding.
    assert measure_node(["ingest_orders", "succeeded · 1m 02s"]) == (139.0, 45.0)


def test_measure_node_title_only():
    assert measure_node(["abc"]) == (42.0, 29.0)


def test_measure_node_wide_characters():
    # Two wide characters fill four cells: 4 * 12 * 0.6 = 28.8 px.
    assert measure_node(["日本"])[0] == 49.0


def test_measure_node_no_lines():
    assert measure_node([]) == (20.0, 12.0)


# Phase 1: break cycles ----------------------------------------------------------------


def test_break_cycles_acyclic():
    assert dag_break_cycles(4, [(0, 1), (0, 2), (1, 3), (2, 3)]) == ([], [])


def test_break_cycles_acyclic_unsorted():
    # A DAG whose edges point from higher to lower indexes keeps every edge.
    assert dag_break_cycles(4, [(3, 2), (2, 1), (1, 0), (3, 0)]) == ([], [])


def test_break_cycles_triangle():
    assert dag_break_cycles(3, [(0, 1), (1, 2), (2, 0)]) == ([2], [])


def test_break_cycles_two_cycle():
    assert dag_break_cycles(2, [(0, 1), (1, 0)]) == ([1], [])


def test_break_cycles_self_loop():
    assert dag_break_cycles(2, [(0, 0), (0, 1)]) == ([], [0])


def test_break_cycles_keeps_majority():
    # Three edges run 0 -> 1 -> 2 -> 3 and one runs back 3 -> 0.
    assert dag_break_cycles(4, [(0, 1), (1, 2), (2, 3), (3, 0)]) == ([3], [])


@settings(max_examples=60, deadline=None)
@given(
    st.integers(min_value=1, max_value=8).flatmap(
        lambda count: st.tuples(
            st.just(count),
            st.lists(
                st.tuples(
                    st.integers(min_value=0, max_value=count - 1),
                    st.integers(min_value=0, max_value=count - 1),
                ),
                max_size=20,
            ),
        )
    )
)
def test_break_cycles_leaves_acyclic(graph):
    count, edges = graph
    reversed_edges, self_loops = dag_break_cycles(count, edges)
    acyclic = [
        (head, tail) if index in reversed_edges else (tail, head)
        for index, (tail, head) in enumerate(edges)
        if index not in self_loops
    ]
    assert self_loops == [i for i, (tail, head) in enumerate(edges) if tail == head]
    assert is_acyclic(count, acyclic)


def is_acyclic(count, edges):
    """Return whether Kahn's algorithm can order all nodes."""
    waiting = [0] * count
    for _, head in edges:
        waiting[head] += 1
    ready = [node for node in range(count) if waiting[node] == 0]
    for node in ready:
        for tail, head in edges:
            if tail == node:
                waiting[head] -= 1
                if waiting[head] == 0:
                    ready.append(head)
    return len(ready) == count


# Phase 2: assign ranks ----------------------------------------------------------------


def test_ranks_diamond():
    assert dag_assign_ranks(4, [(0, 1), (0, 2), (1, 3), (2, 3)]) == [0, 1, 1, 2]


def test_ranks_chain():
    assert dag_assign_ranks(4, [(0, 1), (1, 2), (2, 3)]) == [0, 1, 2, 3]


def test_ranks_source_moves_next_to_successor():
    # Node 4 feeds only node 3, so it sits in rank 2, not in rank 0.
    edges = [(0, 1), (1, 2), (2, 3), (4, 3)]
    assert dag_assign_ranks(5, edges) == [0, 1, 2, 3, 2]


def test_ranks_group_moves_together():
    # Sources 0 and 1 feed 2, which feeds 3 at the end of the chain 4 -> ... -> 3.
    # Moving 0, 1 and 2 right together shortens three edges, so network simplex
    # does it although no single node can move alone.
    edges = [(0, 2), (1, 2), (2, 3), (4, 5), (5, 6), (6, 7), (7, 3)]
    assert dag_assign_ranks(8, edges) == [2, 2, 3, 4, 0, 1, 2, 3]


def test_ranks_rejects_cycle():
    with pytest.raises(ValueError, match="contain a cycle"):
        dag_assign_ranks(2, [(0, 1), (1, 0)])


def brute_force_length(count, edges):
    """Return the minimum total edge length over all rankings in 0 .. count - 1."""
    best = None
    for ranks in itertools.product(range(count), repeat=count):
        if all(ranks[head] > ranks[tail] for tail, head in edges):
            length = sum(ranks[head] - ranks[tail] for tail, head in edges)
            best = length if best is None else min(best, length)
    return best


@settings(max_examples=40, deadline=None)
@given(st.randoms(use_true_random=False), st.integers(min_value=2, max_value=6))
def test_ranks_minimal_length(rng, count):
    edges = [
        tuple(sorted(rng.sample(range(count), 2))) for _ in range(rng.randint(1, 9))
    ]
    ranks = dag_assign_ranks(count, edges)
    length = sum(ranks[head] - ranks[tail] for tail, head in edges)
    assert all(ranks[head] > ranks[tail] for tail, head in edges)
    assert min(ranks) == 0
    assert length == brute_force_length(count, edges)


# Phase 3: insert dummies --------------------------------------------------------------


def test_insert_dummies_long_edge():
    ranks, chains = dag_insert_dummies([0, 1, 3], [(0, 2), (0, 1)])
    assert ranks == [0, 1, 3, 1, 2]
    assert chains == [[0, 3, 4, 2], [0, 1]]


def test_insert_dummies_short_edges():
    assert dag_insert_dummies([0, 1], [(0, 1)]) == ([0, 1], [[0, 1]])


# Phase 4: order within ranks ----------------------------------------------------------


def test_order_untangles_crossing():
    # 0 -> 3 and 1 -> 2 cross if 2 sits above 3.
    layers, crossings = dag_order_ranks([0, 0, 1, 1], [[0, 3], [1, 2]])
    assert layers == [[0, 1], [3, 2]]
    assert crossings == 0


def test_order_complete_bipartite():
    # K(2,2) has one unavoidable crossing.
    chains = [[0, 2], [0, 3], [1, 2], [1, 3]]
    assert dag_order_ranks([0, 0, 1, 1], chains)[1] == 1


def test_order_diamond():
    ranks, chains = dag_insert_dummies([0, 1, 1, 2], [(0, 1), (0, 2), (1, 3), (2, 3)])
    assert dag_order_ranks(ranks, chains) == ([[0], [1, 2], [3]], 0)


def test_order_counts_dummy_crossings():
    # 0 -> 5 passes rank 1 through dummy 6, between or beside 1 and 2.
    ranks, chains = dag_insert_dummies(
        [0, 1, 1, 2, 2, 2], [(0, 1), (0, 2), (1, 4), (2, 3), (0, 5)]
    )
    layers, crossings = dag_order_ranks(ranks, chains)
    assert sorted(layers[1]) == [1, 2, 6]
    assert crossings == count_crossings_pairwise(ranks, layers, chains)


@pytest.mark.parametrize("seed", range(5))
def test_order_count_matches_pairwise(seed):
    rng = random.Random(seed)
    ranks = [rng.randint(0, 3) for _ in range(14)]
    edges = [
        (tail, head)
        for tail, head in itertools.permutations(range(14), 2)
        if ranks[tail] < ranks[head] and rng.random() < 0.2
    ]
    all_ranks, chains = dag_insert_dummies(ranks, edges)
    layers, crossings = dag_order_ranks(all_ranks, chains)
    assert crossings == count_crossings_pairwise(all_ranks, layers, chains)


def count_crossings_pairwise(ranks, layers, chains):
    """Count crossings by checking every pair of segments between the same ranks."""
    position = {node: index for layer in layers for index, node in enumerate(layer)}
    segments = [
        (chain[i], chain[i + 1]) for chain in chains for i in range(len(chain) - 1)
    ]
    count = 0
    for (a, b), (c, d) in itertools.combinations(segments, 2):
        if (
            ranks[a] == ranks[c]
            and (position[a] - position[c]) * (position[b] - position[d]) < 0
        ):
            count += 1
    return count


# Phase 5: assign coordinates ----------------------------------------------------------


def test_coordinates_chain_is_straight():
    columns_left, columns_width, center_y = dag_assign_coordinates(
        [[0], [1]], [[0, 1]], [(100.0, 40.0), (80.0, 60.0)]
    )
    assert columns_left == [0.0, 100.0 + LAYOUT_RANK_GAP_PX]
    assert columns_width == [100.0, 80.0]
    assert center_y == [30.0, 30.0]


def test_coordinates_diamond_gap():
    _, _, center_y = dag_assign_coordinates(
        [[0], [1, 2], [3]], [[0, 1], [0, 2], [1, 3], [2, 3]], [BOX] * 4
    )
    assert center_y[2] - center_y[1] == BOX[1] + LAYOUT_NODE_GAP_PX
    assert center_y[0] == (center_y[1] + center_y[2]) / 2
    assert center_y[3] == center_y[0]
    assert center_y[1] == BOX[1] / 2


def test_coordinates_dummy_gap():
    # 0 -> 1 -> 2 and 0 -> 3 through dummy 4, which sits below 1 in rank 1. A dummy
    # keeps half the node gap plus half the edge gap from a box.
    layers = [[0], [1, 4], [2, 3]]
    chains = [[0, 1], [1, 2], [0, 4, 3]]
    _, _, center_y = dag_assign_coordinates(layers, chains, [BOX] * 4)
    gap = BOX[1] / 2 + (LAYOUT_NODE_GAP_PX + flow_web.LAYOUT_EDGE_GAP_PX) / 2
    assert center_y[4] - center_y[1] >= gap
    assert center_y[3] - center_y[2] >= BOX[1] + LAYOUT_NODE_GAP_PX


def test_coordinates_lone_long_edge_straight():
    _, _, center_y = dag_assign_coordinates([[0], [2], [1]], [[0, 2, 1]], [BOX] * 2)
    assert center_y == [20.0, 20.0, 20.0]


# Phase 6: route edges -----------------------------------------------------------------


def test_route_through_dummy():
    columns = ([0.0, 156.0, 312.0], [100.0, 0.0, 100.0])
    routes = dag_route_edges(
        [[0, 2, 1]], [0, 2, 1], columns, [20.0, 20.0, 20.0], [BOX] * 2
    )
    assert routes == [
        [
            (100.0, 20.0),
            (128.0, 20.0),
            (128.0, 20.0),
            (156.0, 20.0),
            (234.0, 20.0),
            (234.0, 20.0),
            (312.0, 20.0),
        ]
    ]


def test_route_spreads_ports():
    columns = ([0.0, 156.0], [100.0, 100.0])
    routes = dag_route_edges(
        [[0, 1], [0, 2]], [0, 1, 1], columns, [70.0, 20.0, 120.0], [BOX] * 3
    )
    assert routes[0][0] == (100.0, 67.0)
    assert routes[1][0] == (100.0, 73.0)


# Packing ------------------------------------------------------------------------------


def test_pack_tall_blocks_side_by_side():
    offsets, width, height = dag_pack_components([(100.0, 300.0), (80.0, 200.0)])
    assert offsets == [(0.0, 0.0), (140.0, 0.0)]
    assert width == 220.0
    assert height == 300.0


def test_pack_flat_blocks_stack():
    # Side by side would make a 220 x 50 strip, stacked they are 100 x 130, which
    # is closer to the 16:9 target.
    offsets, width, height = dag_pack_components([(100.0, 50.0), (80.0, 40.0)])
    assert offsets == [(0.0, 0.0), (0.0, 90.0)]
    assert width == 100.0
    assert height == 130.0


def test_pack_wide_blocks_stack():
    offsets, _, height = dag_pack_components([(1000.0, 50.0), (1000.0, 40.0)])
    assert offsets == [(0.0, 0.0), (0.0, 90.0)]
    assert height == 130.0


def test_pack_fills_earlier_shelf():
    blocks = [(600.0, 300.0), (600.0, 200.0), (150.0, 100.0)]
    offsets, _, _ = dag_pack_components(blocks)
    assert offsets[1] == (0.0, 340.0)
    assert offsets[2] == (640.0, 0.0)


def test_pack_nothing():
    assert dag_pack_components([]) == ([], 0.0, 0.0)


# layout_dag on small graphs -----------------------------------------------------------


def test_layout_diamond_ranks():
    nodes = node_table(layout_dag(boxes("abcd"), DIAMOND))
    assert [nodes[name]["rank"] for name in "abcd"] == [0, 1, 1, 2]


def test_layout_diamond_no_crossings():
    layout = layout_dag(boxes("abcd"), DIAMOND)
    assert layout["crossings"] == 0
    assert crossing_count(layout) == 0


def test_layout_diamond_exact():
    layout = layout_dag(boxes("abcd"), DIAMOND)
    assert layout["nodes"][0] == {
        "name": "a",
        "x": 0.0,
        "y": 28.0,
        "width": 100.0,
        "height": 40.0,
        "rank": 0,
        "order": 0,
    }
    assert layout["edges"][0] == {
        "from": "a",
        "to": "b",
        "path": "M 100 45 C 128 45 128 20 156 20",
        "reversed": False,
    }
    assert layout["width"] == 412.0
    assert layout["height"] == 96.0
    assert layout["reversed_edges"] == []
    assert layout["self_loops"] == []


def test_layout_chain_is_straight():
    layout = layout_dag(boxes("wxyz"), [("w", "x"), ("x", "y"), ("y", "z")])
    nodes = layout["nodes"]
    assert [node["x"] for node in nodes] == [0.0, 156.0, 312.0, 468.0]
    assert {node["y"] for node in nodes} == {0.0}
    assert layout["edges"][0]["path"] == "M 100 20 C 128 20 128 20 156 20"


def test_layout_cycle_reported():
    layout = layout_dag(boxes("abc"), [("a", "b"), ("b", "c"), ("c", "a")])
    assert layout["reversed_edges"] == [["c", "a"]]
    assert [edge["reversed"] for edge in layout["edges"]] == [False, False, True]


def test_layout_cycle_keeps_direction():
    layout = layout_dag(boxes("abc"), [("a", "b"), ("b", "c"), ("c", "a")])
    nodes = node_table(layout)
    edge = layout["edges"][2]
    points = path_points(edge["path"])
    assert (edge["from"], edge["to"]) == ("c", "a")
    assert points[0][0] == nodes["c"]["x"]
    assert points[-1][0] == nodes["a"]["x"] + nodes["a"]["width"]


def test_layout_self_loop_dropped():
    layout = layout_dag(boxes("ab"), [("a", "a"), ("a", "b")])
    assert layout["self_loops"] == [["a", "a"]]
    assert [(edge["from"], edge["to"]) for edge in layout["edges"]] == [("a", "b")]


def test_layout_long_edge_through_dummies():
    edges = [("a", "b"), ("b", "c"), ("c", "d"), ("a", "d")]
    layout = layout_dag(boxes("abcd"), edges)
    nodes = node_table(layout)
    long_edge = layout["edges"][1]
    points = path_points(long_edge["path"])
    assert (long_edge["from"], long_edge["to"]) == ("a", "d")
    assert long_edge["path"].count("C") == 5
    # The path crosses the columns of b and c horizontally at one height each.
    for name in "bc":
        left = (nodes[name]["x"], points[3][1])
        right = (nodes[name]["x"] + BOX[0], points[3][1])
        assert left in points
        assert right in points
    assert points[3][1] > nodes["b"]["y"] + BOX[1]


def test_layout_two_components_apart():
    layout = layout_dag(boxes("abcd"), [("a", "b"), ("c", "d")])
    nodes = node_table(layout)
    first = bounding_box([nodes["a"], nodes["b"]])
    second = bounding_box([nodes["c"], nodes["d"]])
    assert not boxes_overlap(first, second)


def test_layout_flat_components_stack():
    layout = layout_dag(boxes("abcd"), [("a", "b"), ("c", "d")])
    nodes = node_table(layout)
    assert (nodes["c"]["x"], nodes["c"]["y"]) == (0.0, 80.0)


def test_layout_tall_components_side_by_side():
    layout = layout_dag(boxes("abcd", (100.0, 300.0)), [("a", "b"), ("c", "d")])
    nodes = node_table(layout)
    assert (nodes["c"]["x"], nodes["c"]["y"]) == (296.0, 0.0)


def test_layout_isolated_grid():
    names = [f"job_{index}" for index in range(9)]
    layout = layout_dag(boxes(names), [])
    assert len({node["x"] for node in layout["nodes"]}) == 3
    assert len({node["y"] for node in layout["nodes"]}) == 3
    assert layout["width"] == 3 * BOX[0] + 2 * LAYOUT_NODE_GAP_PX
    assert layout["height"] == 3 * BOX[1] + 2 * LAYOUT_NODE_GAP_PX


def test_layout_isolated_after_components():
    layout = layout_dag(boxes("abz"), [("a", "b")])
    nodes = node_table(layout)
    assert nodes["z"]["rank"] == 0
    assert (nodes["z"]["x"], nodes["z"]["y"]) == (0.0, 80.0)


def test_layout_repeated_edges_drawn_once():
    layout = layout_dag(boxes("ab"), [("a", "b"), ("a", "b")])
    assert len(layout["edges"]) == 1


def test_layout_empty():
    assert layout_dag({}, []) == {
        "nodes": [],
        "edges": [],
        "width": 0.0,
        "height": 0.0,
        "reversed_edges": [],
        "self_loops": [],
        "crossings": 0,
    }


def test_layout_unknown_node_named():
    with pytest.raises(ValueError, match="'ghost'"):
        layout_dag(boxes("ab"), [("a", "b"), ("ghost", "a")])


def test_layout_unknown_nodes_all_named():
    with pytest.raises(ValueError, match="'x', 'y'"):
        layout_dag(boxes("ab"), [("y", "a"), ("a", "x")])


def test_layout_invalid_size():
    with pytest.raises(ValueError, match="'a'"):
        layout_dag({"a": (0.0, 40.0)}, [])


def test_layout_invalid_edge():
    with pytest.raises(ValueError, match="upstream, downstream"):
        layout_dag(boxes("ab"), [("a", "b", "c")])


def test_layout_json_ready():
    layout = layout_dag(boxes("abcd"), DIAMOND + [("d", "a")])
    assert json.loads(json.dumps(layout)) == layout


# crossing_count -----------------------------------------------------------------------


def test_crossing_count_cross():
    edges = [{"path": "M 0 0 L 10 10"}, {"path": "M 0 10 L 10 0"}]
    assert crossing_count({"edges": edges}) == 1


def test_crossing_count_shared_end():
    edges = [{"path": "M 0 0 L 10 5"}, {"path": "M 0 10 L 10 5"}]
    assert crossing_count({"edges": edges}) == 0


def test_crossing_count_through_vertex():
    # The second edge bends exactly on the first one and crosses it there.
    edges = [{"path": "M 0 0 L 10 0"}, {"path": "M 4 -5 L 5 0 L 6 5"}]
    assert crossing_count({"edges": edges}) == 1


def test_crossing_count_curves_twice():
    # An S-shaped cubic crosses the straight line y = 5 three times.
    edges = [{"path": "M 0 5 L 30 5"}, {"path": "M 0 0 C 20 30 10 -20 30 10"}]
    assert crossing_count({"edges": edges}) == 3


def test_crossing_count_rejects_relative_path():
    with pytest.raises(ValueError, match="'c'"):
        crossing_count({"edges": [{"path": "M 0 0 c 1 1 2 2 3 3"}]})


# Invariants ---------------------------------------------------------------------------


def bounding_box(nodes):
    return (
        min(node["x"] for node in nodes),
        min(node["y"] for node in nodes),
        max(node["x"] + node["width"] for node in nodes),
        max(node["y"] + node["height"] for node in nodes),
    )


def boxes_overlap(first, second):
    return (
        first[0] < second[2]
        and second[0] < first[2]
        and first[1] < second[3]
        and second[1] < first[3]
    )


def check_invariants(sizes, edges, layout):
    nodes = node_table(layout)
    assert sorted(nodes) == sorted(sizes)
    assert [node["name"] for node in layout["nodes"]] == sorted(sizes)
    pairs = [(edge["from"], edge["to"]) for edge in layout["edges"]]
    assert pairs == sorted({(tail, head) for tail, head in edges if tail != head})
    for node in layout["nodes"]:
        assert node["x"] >= 0
        assert node["y"] >= 0
        assert node["x"] + node["width"] <= layout["width"]
        assert node["y"] + node["height"] <= layout["height"]
    for first, second in itertools.combinations(layout["nodes"], 2):
        assert not boxes_overlap(bounding_box([first]), bounding_box([second]))
    for edge in layout["edges"]:
        check_edge(edge, nodes[edge["from"]], nodes[edge["to"]], layout)
    assert crossing_count(layout) == layout["crossings"]


def check_edge(edge, upstream, downstream, layout):
    points = path_points(edge["path"])
    for x, y in points:
        assert x >= 0
        assert y >= 0
        assert x <= layout["width"]
        assert y <= layout["height"]
    start, end = points[0], points[-1]
    assert start[1] >= upstream["y"]
    assert start[1] <= upstream["y"] + upstream["height"]
    assert end[1] >= downstream["y"]
    assert end[1] <= downstream["y"] + downstream["height"]
    # A box side sums two numbers rounded to 0.1, so it can be 1 ulp off the path.
    if edge["reversed"]:
        assert downstream["rank"] < upstream["rank"]
        assert start[0] == upstream["x"]
        assert end[0] == pytest.approx(downstream["x"] + downstream["width"])
    else:
        assert downstream["rank"] > upstream["rank"]
        assert downstream["x"] > upstream["x"]
        assert start[0] == pytest.approx(upstream["x"] + upstream["width"])
        assert end[0] == downstream["x"]


@pytest.mark.parametrize("seed", range(12))
def test_invariants_seeded(seed):
    rng = random.Random(seed)
    sizes, edges = random_graph(rng, rng.randint(5, 40), rng.randint(0, 70))
    check_invariants(sizes, edges, layout_dag(sizes, edges))


def test_invariants_large():
    rng = random.Random(2024)
    sizes, edges = random_graph(rng, 150, 300)
    check_invariants(sizes, edges, layout_dag(sizes, edges))


@pytest.mark.parametrize("seed", range(6))
def test_layout_ignores_input_order(seed):
    rng = random.Random(seed)
    sizes, edges = random_graph(rng, 30, 50)
    names = list(sizes)
    rng.shuffle(names)
    shuffled_edges = list(edges)
    rng.shuffle(shuffled_edges)
    shuffled = {name: sizes[name] for name in names}
    assert layout_dag(shuffled, shuffled_edges) == layout_dag(sizes, edges)


graphs = st.integers(min_value=1, max_value=12).flatmap(
    lambda count: st.tuples(
        st.lists(
            st.tuples(
                st.sampled_from([40.0, 75.3, 130.0]),
                st.sampled_from([20.0, 33.3, 45.0]),
            ),
            min_size=count,
            max_size=count,
        ),
        st.lists(
            st.tuples(
                st.integers(min_value=0, max_value=count - 1),
                st.integers(min_value=0, max_value=count - 1),
            ),
            max_size=3 * count,
        ),
    )
)


@settings(max_examples=80, deadline=None)
@given(graphs, st.randoms(use_true_random=False))
def test_invariants_generated(graph, rng):
    node_sizes, index_edges = graph
    sizes = {f"v{index}": size for index, size in enumerate(node_sizes)}
    edges = [(f"v{tail}", f"v{head}") for tail, head in index_edges]
    layout = layout_dag(sizes, edges)
    check_invariants(sizes, edges, layout)
    names = list(sizes)
    rng.shuffle(names)
    rng.shuffle(edges)
    assert layout_dag({name: sizes[name] for name in names}, edges) == layout
