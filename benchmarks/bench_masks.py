"""Token-mask benchmark: grammarlib side by side with xgrammar and llguidance.

Kept for the old command line; the benchmark lives in the package (grammarlib.integrations.bench)
and also runs as ``python -m grammarlib bench``.

    pip install -e '.[bench]'
    python benchmarks/bench_masks.py [--workload grammar|schema|all] [--tokenizer llama-bpe]
                                     [--repeat 3] [--warm-grammar] [--json PATH]
"""

from grammarlib.integrations.bench import main

if __name__ == "__main__":
    raise SystemExit(main())
