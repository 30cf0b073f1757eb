"""Train the same network on a bundled task with several learning rules, the same number of
iterations and the same data, and print one markdown row per rule.

    python examples/taxonomy_train.py examples/sine_wave.toml --iterations 30 \
        --rules bptt,tbptt-k100,snap-n1,ostl,rflo,eprop,uoro,kf-rtrl

Columns: loss of the first and of the last iteration (training batch), test loss and test
accuracy (classification tasks, on the task's test set), seconds per iteration.
"""
import argparse
import time

from snnsim.config import build_network, load_config
from snnsim.config_train import make_trainer


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("config")
    ap.add_argument("--rules", default="bptt,eprop")
    ap.add_argument("--iterations", type=int, default=30)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args(argv)
    print(f"{args.config}: {args.iterations} iterations, network.seed {args.seed}")
    print("| rule | first loss | last loss | test loss | test accuracy | s / iteration |")
    print("|---|---|---|---|---|---|")
    for rule in args.rules.split(","):
        cfg = load_config(args.config, overrides={"train.iterations": args.iterations,
                                                  "train.rule": rule, "network.seed": args.seed})
        net = build_network(cfg)
        trainer = make_trainer(cfg, net)
        log = []
        t0 = time.perf_counter()
        trainer.train(args.iterations, log=log.append)
        per_it = (time.perf_counter() - t0) / args.iterations
        test = trainer.evaluate(trainer.test_task(trainer.rngs["eval"])) if trainer.test_task else {}
        acc = f"{test['accuracy']:.3f}" if "accuracy" in test else "-"
        tl = f"{test['loss']:.4g}" if "loss" in test else "-"
        print(f"| {rule} | {log[0]['loss']:.4g} | {log[-1]['loss']:.4g} | {tl} | {acc} | "
              f"{per_it:.2f} |", flush=True)


if __name__ == "__main__":
    main()
