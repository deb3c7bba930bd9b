#!/usr/bin/env python3
"""make_catalog.py — writes items.jsonl, the demo catalog, from `apt-cache dumpavail`.

Run by hand (never by make):  apt-cache dumpavail | python3 ranker/demo/make_catalog.py > ranker/demo/items.jsonl
About 2,000 Debian packages, evenly spaced by name within a few sections, plus
every package the demo users mention.  Text: name, short description, section
and the debtags that say what it is for.
"""
import json
import sys

SECTIONS = {"games": 260, "sound": 240, "science": 240, "graphics": 200, "math": 140, "web": 150,
            "httpd": 60, "editors": 140, "mail": 100, "database": 140, "python": 200, "net": 130,
            "hamradio": 60}
ALWAYS = {"stellarium", "kstars", "gpredict", "supertuxkart", "0ad", "wesnoth", "freeciv-client-gtk3",
          "audacity", "ardour", "lmms", "hydrogen", "python3-numpy", "python3-pandas", "python3-matplotlib",
          "python3-scipy", "nginx", "apache2", "certbot", "varnish", "gimp", "inkscape", "krita", "blender",
          "vim", "emacs", "neovim", "postgresql", "sqlite3"}
SKIP_SUFFIXES = ("-dbg", "-dbgsym", "-doc", "-data", "-common", "-dev")


def records(stream):
    rec, key = {}, None
    for line in stream:
        line = line.rstrip("\n")
        if not line:
            if rec:
                yield rec
            rec, key = {}, None
        elif line[0] in " \t" and key:
            rec[key] += " " + line.strip()
        elif ":" in line:
            key, _, val = line.partition(":")
            rec[key] = val.strip()
    if rec:
        yield rec


def tags(rec):
    out = []
    for t in rec.get("Tag", "").replace(",", " ").split():
        facet, _, val = t.partition("::")
        if facet in ("field", "use", "works-with", "game") and val not in out:
            out.append(val.replace("-", " ").replace(":", " "))
    return out


def main():
    by_section, seen = {}, {}
    for rec in records(sys.stdin):
        name = rec.get("Package", "")
        if not name or name in seen or "Description" not in rec:
            continue
        seen[name] = rec
        sec = rec.get("Section", "").split("/")[-1]
        if sec in SECTIONS and not name.endswith(SKIP_SUFFIXES) and not name.startswith("lib"):
            by_section.setdefault(sec, []).append(name)
    chosen = set(n for n in ALWAYS if n in seen)
    for sec, want in SECTIONS.items():
        names = sorted(by_section.get(sec, []))
        step = max(1, len(names) // want)
        chosen.update(names[::step][:want])
    for name in sorted(chosen):
        rec = seen[name]
        sec = rec.get("Section", "").split("/")[-1]
        text = f"{name}: {rec['Description']}. Section {sec}."
        t = tags(rec)
        if t:
            text += " For " + ", ".join(t[:6]) + "."
        print(json.dumps({"id": name, "text": text, "section": sec}, ensure_ascii=False))


main()
