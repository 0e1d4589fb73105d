"""A stateful stand-in for the ``nft`` runner (firewall.Runner): it applies the
scripts firewall.py writes to an in-memory table and lists it back in ``nft -j``
form, so set-up and tear-down can be checked for leftover rules without root."""

from __future__ import annotations

import json

from launcher.network.nft import NftError

MISSING = "Error: No such file or directory\nlist table inet launcher\n"


class FakeNft:
    def __init__(self) -> None:
        self.table = False
        self.chains: set[str] = set()
        self.rules: list[tuple[str, int, str, str]] = []  # chain, handle, body, comment
        self.handle = 0
        self.calls: list[list[str]] = []

    def __call__(self, args: list[str], stdin: str) -> str:
        self.calls.append(args)
        if args[:2] == ["-j", "list"]:
            if not self.table:
                raise NftError("nft: Error: No such file or directory", MISSING)
            return self.listing()
        assert args == ["-f", "-"], args
        for line in stdin.splitlines():
            self._apply(line)
        return ""

    def _apply(self, line: str) -> None:
        words = line.split()
        if words[:3] == ["add", "table", "inet"]:
            self.table = True
        elif words[:3] == ["delete", "table", "inet"]:
            self.table, self.chains, self.rules = False, set(), []
        elif words[:2] == ["add", "chain"]:
            self.chains.add(words[4])
        elif words[:2] == ["flush", "chain"]:
            self.rules = [r for r in self.rules if r[0] != words[4]]
        elif words[:2] == ["add", "rule"]:
            body, _, comment = line.partition(' comment "')
            self.handle += 1
            self.rules.append((words[4], self.handle, body, comment.rstrip('"')))
        elif words[:2] == ["delete", "rule"]:
            handle = int(words[-1])
            if not any(r[1] == handle for r in self.rules):
                raise NftError("nft: Error: No such file or directory", MISSING)
            self.rules = [r for r in self.rules if r[1] != handle]
        else:
            raise AssertionError(f"unexpected nft line {line!r}")

    def listing(self) -> str:
        items: list[dict[str, object]] = [{"table": {"family": "inet", "name": "launcher"}}]
        items += [{"chain": {"table": "launcher", "name": c}} for c in sorted(self.chains)]
        items += [{"rule": {"table": "launcher", "chain": c, "handle": h, "comment": t}}
                  for c, h, _b, t in self.rules]
        return json.dumps({"nftables": items})

    def comments(self, prefix: str = "") -> list[str]:
        return sorted(t for _c, _h, _b, t in self.rules if t.startswith(prefix))

    def flush(self) -> None:
        """``nft flush ruleset``."""
        self.table, self.chains, self.rules = False, set(), []
