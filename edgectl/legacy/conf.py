"""Asterisk's config file syntax (doc: "Asterisk Configuration Files",
config.c), the part the legacy servers use: reading a server's
``/etc/asterisk`` tree from a directory or a tarball (:func:`read_tree`, the
only disk access of the legacy parser), ``;`` comments, ``#include`` /
``#tryinclude`` expanded in place, ``[section](options)`` headers and
``key = value`` / ``key => value`` settings. A line that is none of these,
or a missing include, is a :class:`ParseError`."""

from __future__ import annotations

import fnmatch
import re
import tarfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Mapping

MAX_INCLUDE_DEPTH = 16
_SECTION = re.compile(r"^\[([^\]\[]+)\]\s*(?:\(([^)]*)\))?$")
_DIRECTIVE = re.compile(r"^#(include|tryinclude)\s+\"?([^\"]+?)\"?\s*$")


class ParseError(Exception):
    """The tree cannot be read: ``file:line: why``."""


@dataclass(frozen=True)
class Where:
    file: str
    line: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}"

    @classmethod
    def parse(cls, text: str) -> "Where":
        """Back from ``file:line`` (as plans store it)."""
        f, _, line = text.rpartition(":")
        return cls(f, int(line))


# -- reading the tree -----------------------------------------------------------

def read_tree(source: Path) -> dict[str, str]:
    """Every regular file of a directory or tarball, by path relative to its
    ``/etc/asterisk`` root (a tarball may hold ``etc/asterisk/...`` or
    ``asterisk/...``: the directory holding sip.conf is the root)."""
    files: dict[str, str] = {}
    if source.is_dir():
        for p in sorted(source.rglob("*")):
            if p.is_file():
                files[p.relative_to(source).as_posix()] = _decode(p.read_bytes(), str(p))
    elif source.is_file():
        try:
            with tarfile.open(source) as tar:
                for m in tar.getmembers():
                    if m.isfile():
                        fh = tar.extractfile(m)
                        if fh is not None:
                            files[PurePosixPath(m.name).as_posix().lstrip("./")] = \
                                _decode(fh.read(), m.name)
        except tarfile.TarError as exc:
            raise ParseError(f"{source}: not a directory or a readable tarball ({exc})") from None
    else:
        raise ParseError(f"{source}: no such directory or file")
    roots = sorted((k[: -len("sip.conf")] for k in files if k == "sip.conf"
                    or k.endswith("/sip.conf")), key=len)
    if not roots:
        raise ParseError(f"{source}: no sip.conf in the tree")
    root = roots[0]
    return {k[len(root):]: v for k, v in files.items() if k.startswith(root)}


def _decode(raw: bytes, name: str) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")      # old servers: ISO-8859-1 comments


# -- config syntax ----------------------------------------------------------------

@dataclass(frozen=True)
class Line:
    where: Where
    kind: str               # "section" | "kv"
    name: str               # section name | key
    value: str = ""         # kv value | section options
    arrow: bool = False     # "=>"


def _strip_comment(text: str) -> str:
    out, i = [], 0
    while i < len(text):
        c = text[i]
        if c == "\\" and i + 1 < len(text) and text[i + 1] == ";":
            out.append(";")
            i += 2
            continue
        if c == ";":
            break
        out.append(c)
        i += 1
    return "".join(out).strip()


def config_lines(files: Mapping[str, str], name: str, optional: bool = False,
                 _depth: int = 0, _where: Where | None = None,
                 _out: list[Line] | None = None) -> list[Line]:
    """The lines of a config file with its includes expanded in place."""
    if _depth > MAX_INCLUDE_DEPTH:
        raise ParseError(f"{_where}: #include nested deeper than {MAX_INCLUDE_DEPTH}")
    names = sorted(fnmatch.filter(files, name)) if "*" in name else \
        ([name] if name in files else [])
    if not names:
        if optional:
            return []
        at = f"{_where}: " if _where else ""
        raise ParseError(f"{at}included file {name} is missing")
    out: list[Line] = [] if _out is None else _out
    for fname in names:
        for no, raw in enumerate(files[fname].splitlines(), 1):
            where = Where(fname, no)
            text = _strip_comment(raw)
            if not text:
                continue
            m = _DIRECTIVE.match(text)
            if m:
                config_lines(files, m.group(2).strip(), m.group(1) == "tryinclude",
                             _depth + 1, where, out)
                continue
            if text.startswith("#"):
                raise ParseError(f"{where}: unknown directive {text.split()[0]}")
            if text.startswith("["):
                m = _SECTION.match(text)
                if not m:
                    raise ParseError(f"{where}: malformed section header {text!r}")
                out.append(Line(where, "section", m.group(1).strip(), (m.group(2) or "").strip()))
                continue
            arrow = "=>" in text and (text.find("=>") <= text.find("=") or "=" not in text)
            key, sep, value = text.partition("=>" if arrow else "=")
            if not sep or not key.strip():
                raise ParseError(f"{where}: not a setting, section or #include: {text!r}")
            if not out:
                raise ParseError(f"{where}: setting {key.strip()!r} outside any [section]")
            out.append(Line(where, "kv", key.strip().lower(), value.strip(), arrow))
    return out


def sections(lines: list[Line]) -> list[tuple[Line, list[Line]]]:
    out: list[tuple[Line, list[Line]]] = []
    for ln in lines:
        if ln.kind == "section":
            out.append((ln, []))
        else:
            out[-1][1].append(ln)
    return out
