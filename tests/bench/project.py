"""A synthetic project of 200 jobs in 20 workflows, for benchmarks.

project_graph() builds each workflow of 10 jobs from small layered shapes: a
chain, a fan-out, a fan-in or a diamond. Consecutive shapes are sometimes joined
end to start. Then it adds edges from a job of an earlier workflow to a job of a
later one, until the project has PROJECT_EDGE_COUNT edges and at least
PROJECT_MIN_CROSS_EDGES of them run between workflows. The result depends only on
the seed. Seed 7 gives 159 edges, 11 of them between workflows.
"""

from __future__ import annotations

import random

PROJECT_WORKFLOW_COUNT = 20
PROJECT_JOBS_PER_WORKFLOW = 10
PROJECT_EDGE_COUNT = 159
PROJECT_MIN_CROSS_EDGES = 3
# Probability that a shape's last job feeds the next shape's first job.
PROJECT_JOIN_PROBABILITY = 0.15


def project_graph(
    seed: int = 7,
) -> tuple[list[str], list[tuple[str, str]], dict[str, list[str]]]:
    """Return (jobs, edges, workflows) for a 200-job project.

    jobs are job_000 .. job_199, and workflow wf_NN contains jobs 10 * NN to
    10 * NN + 9. edges are sorted (upstream, downstream) depends_on pairs without
    repeats or cycles: each one joins two jobs of one workflow, except the few that
    run from an earlier workflow to a later one.
    """
    rng = random.Random(seed)
    job_count = PROJECT_WORKFLOW_COUNT * PROJECT_JOBS_PER_WORKFLOW
    jobs = [f"job_{index:03d}" for index in range(job_count)]
    workflows: dict[str, list[str]] = {}
    edges: set[tuple[str, str]] = set()
    for number in range(PROJECT_WORKFLOW_COUNT):
        first = number * PROJECT_JOBS_PER_WORKFLOW
        members = jobs[first : first + PROJECT_JOBS_PER_WORKFLOW]
        workflows[f"wf_{number:02d}"] = members
        edges.update(_workflow_edges(members, rng))
    _add_cross_workflow_edges(edges, list(workflows.values()), rng)
    return jobs, sorted(edges), workflows


def _workflow_edges(members: list[str], rng: random.Random) -> list[tuple[str, str]]:
    """Cover the members with shapes in order and return their edges."""
    edges: list[tuple[str, str]] = []
    previous_last = None
    start = 0
    while start < len(members):
        left = len(members) - start
        size = min(left, rng.choice((2, 3, 4, 4)))
        if left - size == 1:
            size += 1  # a lone job at the end would have no edges
        shape = members[start : start + size]
        edges.extend(_shape_edges(shape, rng))
        if previous_last is not None and rng.random() < PROJECT_JOIN_PROBABILITY:
            edges.append((previous_last, shape[0]))
        previous_last = shape[-1]
        start += size
    return edges


def _shape_edges(shape: list[str], rng: random.Random) -> list[tuple[str, str]]:
    """Return the edges of a chain, fan-out, fan-in or diamond over the jobs of
    shape, chosen at random. Every edge runs from an earlier job to a later one."""
    first, middle, last = shape[0], shape[1:-1], shape[-1]
    kind = rng.choice(("chain", "fan-out", "fan-in", "diamond"))
    if kind == "chain" or not middle:
        return [(shape[i], shape[i + 1]) for i in range(len(shape) - 1)]
    if kind == "fan-out":
        return [(first, job) for job in shape[1:]]
    if kind == "fan-in":
        return [(job, last) for job in shape[:-1]]
    return [(first, job) for job in middle] + [(job, last) for job in middle]


def _add_cross_workflow_edges(edges, workflows, rng) -> None:
    """Add edges from an earlier workflow to a later one until there are
    PROJECT_EDGE_COUNT edges and at least PROJECT_MIN_CROSS_EDGES of these. They
    always point to a later workflow, so no cycle forms."""
    added = 0
    while len(edges) < PROJECT_EDGE_COUNT or added < PROJECT_MIN_CROSS_EDGES:
        early, late = sorted(rng.sample(range(len(workflows)), 2))
        edge = (rng.choice(workflows[early]), rng.choice(workflows[late]))
        if edge not in edges:
            edges.add(edge)
            added += 1
