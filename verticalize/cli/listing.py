"""Tables printed by ``verticalize ls``."""

from __future__ import annotations


def _table(rows: list[list[str]], head: list[str]) -> str:
    widths = [max(len(str(r[i])) for r in [head, *rows]) for i in range(len(head))]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    return "\n".join(fmt.format(*r).rstrip() for r in [head, ["-" * w for w in widths], *rows])


def models() -> str:
    from verticalize.models.aliases import ALIASES

    rows = [[m.alias, m.params, "offline" if m.offline else (m.hub_id or ""), m.family,
             "yes" if m.trust_remote_code else "", m.description] for m in ALIASES.values()]
    return _table(rows, ["alias", "params", "source", "family", "remote code", "description"])


def domains() -> str:
    from verticalize.packs import list_domains, load_domain

    rows = []
    for name in list_domains():
        p = load_domain(name)
        rows.append([name, str(p.count("train")), str(p.count("eval")), str(p.count("corpus") or ""),
                     str(p.count("preference") or ""), ",".join(p.languages), "yes" if p.pot else "",
                     str(len(p.tasks)), p.description[:60]])
    return _table(rows, ["domain", "train", "eval", "corpus docs", "pref pairs", "langs", "pot", "tasks",
                         "description"])


def suites() -> str:
    from verticalize.packs import list_domains, load_domain

    rows = []
    for name in list_domains():
        p = load_domain(name)
        import yaml

        kinds = sorted({t.get("kind", "") for t in p.tasks})
        f = p.dir / "suite.yaml"
        role = (yaml.safe_load(f.read_text(encoding="utf-8")) or {}).get("role", "domain") if f.is_file() else "domain"
        rows.append([name, str(p.count("eval")), ",".join(kinds), role, str(f) if f.is_file() else "(pack eval split)"])
    return _table(rows, ["suite", "examples", "task kinds", "role", "file"])


def recipes() -> str:
    from verticalize.packs import list_recipes

    rows = []
    for name, path in list_recipes().items():
        desc = ""
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.startswith("#"):
                desc = line.lstrip("# ").strip()
                break
        rows.append([name, desc])
    return _table(rows, ["recipe", "description"])
