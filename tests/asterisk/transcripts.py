"""Loading the recorded Asterisk transcripts kept beside the tests."""

from __future__ import annotations

from pathlib import Path

FOLDER = Path(__file__).parent / "transcripts"


def read_text(name: str) -> str:
    return (FOLDER / name).read_text(encoding="utf-8")


def asterisk_side(name: str) -> bytes:
    """Return what Asterisk wrote in a ``< ``/``> `` transcript, lines ended by ``\\n``."""
    lines = [line[2:] for line in read_text(name).splitlines() if line.startswith("< ")]
    return "".join(f"{line}\n" for line in lines).encode()


def santral_side(name: str) -> list[str]:
    """Return the command lines santral wrote in a ``< ``/``> `` transcript."""
    return [line[2:] for line in read_text(name).splitlines() if line.startswith("> ")]


def ami_stream(name: str, line_end: str = "\r\n") -> bytes:
    """Return a ``.ami`` transcript with the given line end, as Asterisk would send it."""
    return read_text(name).replace("\n", line_end).encode()


def panoramisk_server_side(name: str) -> tuple[list[str], bytes]:
    """Split a panoramisk fixture into the client's ActionIDs and the server's byte stream.

    Blocks that start with ``action:`` (any case) were sent by the client; the rest were
    sent by Asterisk. A banner is added in front, as a real server sends one.
    """
    text = read_text(f"panoramisk/{name}")
    action_ids: list[str] = []
    server: list[str] = []
    for block in text.split("\n\n"):
        lines = [line for line in block.split("\n") if line]
        if not lines:
            continue
        if lines[0].lower().startswith("action:"):
            action_ids += [
                line.split(": ", 1)[1] for line in lines if line.lower().startswith("actionid:")
            ]
            continue
        server.append("\r\n".join(lines) + "\r\n\r\n")
    return action_ids, ("Asterisk Call Manager/2.10.0\r\n" + "".join(server)).encode()
