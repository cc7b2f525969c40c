"""YAML documents read strictly: a key written twice in one mapping is an error.

`yaml.safe_load` keeps the last of two equal keys without a word, so a manifest or scenario
edited by hand can silently lose a setting; every user-written YAML file goes through
`parse_yaml` instead.
"""

from __future__ import annotations

from typing import Any

import yaml

from tessera.core.errors import InputError


def key_path(parts: list[int | str]) -> str:
    """`a.b[2].c` for the parts ["a", "b", 2, "c"]."""
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else ("." if out else "") + str(part)
    return out


def _check_duplicate_keys(
    node: yaml.Node, path: list[int | str], seen: set[int], where: str | None
) -> None:
    """Raise on a key written twice in one mapping (YAML would keep the last silently)."""
    if id(node) in seen:  # an alias of a node already walked
        return
    seen.add(id(node))
    if isinstance(node, yaml.MappingNode):
        lines: dict[object, int] = {}
        for k, v in node.value:
            key = k.value if isinstance(k, yaml.ScalarNode) else None
            if key is not None and key != "<<":
                if key in lines:
                    field = key_path([*path, key])
                    raise InputError(
                        f"{where}: {field}" if where else field,
                        f"(written twice, lines {lines[key]} and {k.start_mark.line + 1})",
                        "each key once per mapping",
                    )
                lines[key] = k.start_mark.line + 1
            sub = [*path, key] if isinstance(key, str) else path
            _check_duplicate_keys(v, sub, seen, where)
    elif isinstance(node, yaml.SequenceNode):
        for j, item in enumerate(node.value):
            _check_duplicate_keys(item, [*path, j], seen, where)


def parse_yaml(text: str, where: str | None = None) -> Any:
    """Parse one YAML document as `yaml.safe_load` does, refusing duplicate keys with an
    `InputError` whose field is the key's path (after `where: ` when given). Syntax errors
    stay `yaml.YAMLError` for the caller to word."""
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _check_duplicate_keys(node, [], set(), where)
        return loader.construct_document(node)
    finally:
        loader.dispose()
