"""Benchmark the DAG layout of flow_web against Graphviz dot.

Run: python tests/bench/layout.py   (needs the dot program on PATH)

Lays out each benchmark graph with flow_web.layout_dag and with `dot -Tjson`
(rankdir=LR), and prints one table row per graph: node and edge counts, edge
crossings in both drawings, and the time of each.

How crossings are counted, the same way for both drawings: every edge becomes SVG
path data, and flow_web.crossing_count samples each cubic Bezier piece at 15 equal
parameter steps and counts proper intersections between the polylines of
different edges. For dot, the path is the edge's B-spline control points from the
"pos" attribute, read as consecutive cubic Bezier pieces (which is how dot draws
them), followed by a straight segment to the arrowhead tip. dot gets the same node
boxes (width and height in inches at 72 px per inch, shape=box, fixedsize=true,
no labels) and the same gaps: nodesep is LAYOUT_NODE_GAP_PX and ranksep
LAYOUT_RANK_GAP_PX, in inches. Both layouts get the same edge list.

Timing: ours is the median of RUNS calls of layout_dag in this process, dot's the
median wall time of RUNS runs of the dot program, process start included. The
whole-set line is the median of RUNS passes that lay out every graph once. The
last line checks the targets: crossings no more than dot's on every graph and
fewer on some, and the 1,000-node graph in under TARGET_1000_MS.
"""

from __future__ import annotations

import json
import math
import random
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from project import project_graph  # noqa: E402

import flow_web  # noqa: E402

FIXTURE_DAG = ROOT.parent / "shared" / "fixtures" / "reference-responses" / "dag.json"
RUNS = 5
TARGET_1000_MS = 300.0
POINTS_PER_INCH = 72.0
STATUS_LINE = "succeeded · 1m 02s"  # a typical second line of a node box


def fixture_graph() -> tuple[dict, list[tuple[str, str]]]:
    """Return the reference DAG response's nodes and edges, plus the streaming job
    live_orders as an isolated node."""
    dag = json.loads(FIXTURE_DAG.read_text())
    nodes = {}
    for node in dag["nodes"]:
        lines = [node["name"], STATUS_LINE]
        if node["schedule"]:
            lines.append(node["schedule"])
        nodes[node["name"]] = flow_web.measure_node(lines)
    nodes["live_orders"] = flow_web.measure_node(["live_orders", "running"])
    edges = [(edge["from"], edge["to"]) for edge in dag["edges"]]
    return nodes, edges


def project_benchmark_graph() -> tuple[dict, list[tuple[str, str]]]:
    jobs, edges, workflows = project_graph(seed=7)
    workflow_of = {job: name for name, members in workflows.items() for job in members}
    nodes = {
        job: flow_web.measure_node([job, STATUS_LINE, workflow_of[job]]) for job in jobs
    }
    return nodes, edges


def random_layered_graph(node_count: int, seed: int) -> tuple[dict, list]:
    """Return a random DAG with node_count nodes in about 0.8 * sqrt(node_count)
    layers and 2 * node_count distinct edges. Each edge starts at a random node
    and ends in the next layer (75 %), two layers on (15 %) or three (10 %),
    capped at the last layer."""
    rng = random.Random(seed)
    layer_count = max(2, round(math.sqrt(node_count) * 0.8))
    names = [f"n{index:04d}" for index in range(node_count)]
    layer_of = {
        name: index * layer_count // node_count for index, name in enumerate(names)
    }
    layers: list[list[str]] = [[] for _ in range(layer_count)]
    for name in names:
        layers[layer_of[name]].append(name)
    sources = [name for name in names if layer_of[name] < layer_count - 1]
    edges: set[tuple[str, str]] = set()
    while len(edges) < 2 * node_count:
        tail = rng.choice(sources)
        draw = rng.random()
        span = 1
        if draw >= 0.75:
            span = 2
        if draw >= 0.9:
            span = 3
        target = min(layer_count - 1, layer_of[tail] + span)
        edges.add((tail, rng.choice(layers[target])))
    nodes = {name: flow_web.measure_node([name, STATUS_LINE]) for name in names}
    return nodes, sorted(edges)


def benchmark_graphs() -> list[tuple[str, dict, list]]:
    return [
        ("fixture dag.json", *fixture_graph()),
        ("project 200 jobs", *project_benchmark_graph()),
        ("random 50", *random_layered_graph(50, seed=50)),
        ("random 200", *random_layered_graph(200, seed=200)),
        ("random 1000", *random_layered_graph(1000, seed=1000)),
    ]


def time_ours(nodes, edges) -> tuple[dict, float]:
    timings = []
    for _ in range(RUNS):
        start = time.perf_counter()
        layout = flow_web.layout_dag(nodes, edges)
        timings.append(time.perf_counter() - start)
    return layout, statistics.median(timings) * 1000


def dot_source(nodes, edges) -> str:
    lines = [
        "digraph benchmark {",
        "  rankdir=LR;",
        f"  nodesep={flow_web.LAYOUT_NODE_GAP_PX / POINTS_PER_INCH:.4f};",
        f"  ranksep={flow_web.LAYOUT_RANK_GAP_PX / POINTS_PER_INCH:.4f};",
        '  node [shape=box, fixedsize=true, label=""];',
    ]
    for name, (width, height) in sorted(nodes.items()):
        width_in = width / POINTS_PER_INCH
        height_in = height / POINTS_PER_INCH
        lines.append(f'  "{name}" [width={width_in:.4f}, height={height_in:.4f}];')
    for tail, head in edges:
        lines.append(f'  "{tail}" -> "{head}";')
    lines.append("}")
    return "\n".join(lines) + "\n"


def time_dot(nodes, edges) -> tuple[dict, float]:
    source = dot_source(nodes, edges)
    timings = []
    for _ in range(RUNS):
        start = time.perf_counter()
        result = subprocess.run(
            ["dot", "-Tjson"], input=source, capture_output=True, text=True, check=True
        )
        timings.append(time.perf_counter() - start)
    return json.loads(result.stdout), statistics.median(timings) * 1000


def dot_paths(drawing: dict) -> dict:
    """Turn dot's edge splines into a layout dict that crossing_count reads."""
    edges = []
    for edge in drawing.get("edges", []):
        points = []
        arrow_tip = None
        for word in edge["pos"].split():
            if word.startswith("e,"):
                arrow_tip = word[2:].replace(",", " ")
            elif not word.startswith("s,"):
                points.append(word.replace(",", " "))
        path = "M " + points[0]
        for index in range(1, len(points), 3):
            path += " C " + " ".join(points[index : index + 3])
        if arrow_tip:
            path += " L " + arrow_tip
        edges.append({"path": path})
    return {"edges": edges}


def main() -> int:
    if shutil.which("dot") is None:
        print("dot not found on PATH; install Graphviz to run this benchmark")
        return 1
    graphs = benchmark_graphs()
    header = ("graph", "nodes", "edges", "our crossings", "dot crossings")
    header += ("our ms", "dot ms")
    rows = [header]
    for name, nodes, edges in graphs:
        ours, our_ms = time_ours(nodes, edges)
        theirs, dot_ms = time_dot(nodes, edges)
        our_crossings = flow_web.crossing_count(ours)
        dot_crossings = flow_web.crossing_count(dot_paths(theirs))
        rows.append(
            (name, len(nodes), len(edges), our_crossings, dot_crossings)
            + (f"{our_ms:.1f}", f"{dot_ms:.1f}")
        )
    print_table(rows)
    python = ".".join(str(part) for part in sys.version_info[:3])
    print(f"whole set, ours: {time_whole_set(graphs):.1f} ms (CPython {python})")
    print(target_summary(rows[1:]))
    return 0


def print_table(rows) -> None:
    widths = [max(len(str(row[i])) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        cells = [str(cell).rjust(width) for cell, width in zip(row, widths)]
        cells[0] = str(row[0]).ljust(widths[0])
        print("  ".join(cells))


def time_whole_set(graphs) -> float:
    timings = []
    for _ in range(RUNS):
        start = time.perf_counter()
        for _, nodes, edges in graphs:
            flow_web.layout_dag(nodes, edges)
        timings.append(time.perf_counter() - start)
    return statistics.median(timings) * 1000


def target_summary(rows) -> str:
    never_more = all(row[3] <= row[4] for row in rows)
    fewer = sum(row[3] < row[4] for row in rows)
    large_ms = max(float(row[5]) for row in rows if row[1] == 1000)
    return (
        f"targets: crossings <= dot on every graph: {'yes' if never_more else 'NO'}; "
        f"fewer than dot on {fewer} of {len(rows)}; "
        f"1000 nodes in {large_ms:.1f} ms "
        f"(target {TARGET_1000_MS:.0f}): {'yes' if large_ms < TARGET_1000_MS else 'NO'}"
    )


if __name__ == "__main__":
    sys.exit(main())
