"""How often the walk test proposes a swap, on good and on swapped doors with other people about.

    python -m benchmarks.walktest --seeds 200 --background 0.08

Per door kind (two single-beam nodes, one dual-beam node) and wiring (right, swapped): an
installer who walks when prompted (2 walks each way) while others cross the door at random
(`--background` people per second, a fifth of them with someone 1 s behind). Prints how many
runs proposed a swap, how many ended "mixed" (walk again), and the walks that were crowded.
"""

from __future__ import annotations

import argparse

from tests.support.enginekit import dual_beam_door, two_node_door
from tests.support.walkers import play, swapped


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=200)
    parser.add_argument("--background", type=float, default=0.08, help="people per second")
    args = parser.parse_args()
    print(f"{args.seeds} runs per row, {args.background:g} other people/s, 2 walks each way")
    head = ("door", "wiring", "swap proposed", "mixed", "pass", "crowded walks")
    print(f"{head[0]:<14} {head[1]:<8} {head[2]:>13} {head[3]:>6} {head[4]:>5} {head[5]:>13}")
    for make in (two_node_door, dual_beam_door):
        for wiring in ("right", "swapped"):
            proposed = mixed = passed = crowded = 0
            for seed in range(args.seeds):
                site = make()
                site.seed = seed
                told = site.doors[0] if wiring == "right" else swapped(site)
                test, _ = play(site, told, background=args.background, seed=seed)
                verdict = test.verdict()
                kinds = [f.kind for f in verdict.findings]
                proposed += verdict.swapped
                mixed += "mixed" in kinds
                passed += verdict.ok
                crowded += sum(r.status == "crowded" for r in verdict.results)
            print(
                f"{make.__name__:<14} {wiring:<8} {proposed:>13} {mixed:>6} {passed:>5} "
                f"{crowded:>13}"
            )


if __name__ == "__main__":
    main()
