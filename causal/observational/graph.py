"""Causal graphs: a DOT string or a networkx DiGraph, parsed with pydot into a DiGraph."""

from __future__ import annotations

import contextlib
import io
import re

import networkx as nx

from servicelab.errors import DesignError

__all__ = ["parse_graph"]

_HEADER = re.compile(r"\s*(strict\s+)?(di)?graph\b[^{]*\{", re.IGNORECASE)


def parse_graph(graph: str | nx.DiGraph) -> nx.DiGraph:
    """A DOT string (``digraph { a -> b; }``) or a networkx DiGraph, as a DiGraph.

    DOT is parsed by pydot and converted by :func:`networkx.nx_pydot.from_pydot`, so the whole
    language works: quoted names, attributes, edge chains, subgraph endpoints
    (``a -> {b c}``), comments. A bare statement list without ``digraph { }`` is accepted.
    Attributes are dropped; parallel edges collapse to one.

    Raises
    ------
    DesignError
        When the text is not valid DOT, the graph is undirected, or it has no edges.

    Examples
    --------
    >>> sorted(parse_graph("digraph { x -> {t y}; t -> y [label=effect] }").edges)
    [('t', 'y'), ('x', 't'), ('x', 'y')]
    >>> sorted(parse_graph('"a" -> b -> c; d').nodes)
    ['a', 'b', 'c', 'd']
    """
    if isinstance(graph, nx.DiGraph):
        return graph.copy()
    if not isinstance(graph, str):
        raise DesignError(f"graph must be a DOT string or a networkx DiGraph, got {type(graph)}")
    import pydot

    text = graph if _HEADER.match(graph) else "digraph {\n" + graph + "\n}"
    printed = io.StringIO()
    try:
        with contextlib.redirect_stdout(printed):  # pydot prints its parse errors
            parsed = pydot.graph_from_dot_data(text)
    except Exception as exc:  # pyparsing's ParseException and friends: not DOT
        parsed, printed = None, io.StringIO(str(exc))
    if not parsed:
        detail = " ".join(printed.getvalue().split())
        raise DesignError(f"the graph is not valid DOT ({detail or 'no graph found'}); write it as "
                          "'digraph { x -> t; x -> y; t -> y }'")
    if len(parsed) > 1:
        raise DesignError(f"the DOT text holds {len(parsed)} graphs; give one")
    multi = nx.nx_pydot.from_pydot(parsed[0])
    if not multi.is_directed():
        raise DesignError("the graph is undirected ('graph { a -- b }'); a causal graph is a "
                          "'digraph { a -> b }'")
    g = nx.DiGraph()
    g.add_nodes_from(str(n) for n in multi.nodes)
    g.add_edges_from((str(u), str(v)) for u, v in multi.edges())
    if not g.number_of_edges():
        raise DesignError("the graph has no edges; write it as 'digraph { x -> t; x -> y; t -> y }'")
    return g
