"""parse_graph: DOT through pydot + networkx, against the former regex parser's outputs."""

from __future__ import annotations

import networkx as nx
import pytest

from causal.observational import parse_graph
from servicelab import DesignError

# (DOT, edges the former regex parser returned) on ordinary inputs: the same graph now
ORDINARY = [
    ('digraph { "a" -> b -> c; d; }', {("a", "b"), ("b", "c")}),
    ("digraph { x -> t; x -> y; t -> y }", {("x", "t"), ("x", "y"), ("t", "y")}),
    ("digraph {\n tier -> bot_used [color=red];\n tier -> handle_s\n bot_used -> handle_s\n}",
     {("tier", "bot_used"), ("tier", "handle_s"), ("bot_used", "handle_s")}),
    ("x -> t; t -> y", {("x", "t"), ("t", "y")}),
]


@pytest.mark.parametrize(("dot", "edges"), ORDINARY)
def test_ordinary_graphs_parse_as_before(dot, edges):
    g = parse_graph(dot)
    assert isinstance(g, nx.DiGraph)
    assert set(g.edges) == edges


def test_isolated_nodes_are_kept():
    assert set(parse_graph('digraph { "a" -> b -> c; d; }').nodes) == {"a", "b", "c", "d"}


def test_subgraph_endpoints_which_the_regex_broke_on():
    # the regex parser made a node called "{b c}" here
    g = parse_graph("digraph { a -> {b c}; {b c} -> y }")
    assert set(g.edges) == {("a", "b"), ("a", "c"), ("b", "y"), ("c", "y")}
    assert "{b c}" not in g


def test_the_rest_of_dot_works():
    g = parse_graph('digraph G {\n node [shape=box];  // defaults\n "pre contacts" -> t /* x */;\n'
                    ' t -> y [label="effect", weight=2];\n}')
    assert set(g.edges) == {("pre contacts", "t"), ("t", "y")}
    assert "node" not in g


def test_bad_graphs_are_refused_with_the_fix():
    with pytest.raises(DesignError, match="no edges"):
        parse_graph("digraph { a; b }")
    with pytest.raises(DesignError, match="undirected"):
        parse_graph("graph { a -- b }")
    with pytest.raises(DesignError, match="not valid DOT"):
        parse_graph("digraph { a -> }")
    with pytest.raises(DesignError, match="DOT string or a networkx DiGraph"):
        parse_graph(["a", "b"])  # type: ignore[arg-type]


def test_a_digraph_is_copied():
    g0 = nx.DiGraph([("a", "b")])
    g = parse_graph(g0)
    g.add_edge("b", "c")
    assert not g0.has_edge("b", "c")
