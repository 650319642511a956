"""The spread of every learning test over seeds and CPU kernel paths.

Runs the tests marked ``learns`` (``pytest -m learns``) once per
(seed, kernel path), each in a fresh process, collecting the numbers their
learning checks record (``tests/learning.py``), then prints one table row a
(test, metric): min / median / max over all runs, the trivial predictor's
value, the bar, and the worst margin. Test bars are set from that worst case.

Kernel paths reachable on one x86 machine (PyTorch reads these at import):

- ``native``: the machine's best (AVX-512 here);
- ``avx2``: ATen, MKL and oneDNN capped at AVX2 (an AVX2-only CPU);
- ``default``: ATen's portable kernels, MKL at SSE4.2, oneDNN at SSE4.1;
- ``threads2``: the native kernels with two intra-op threads.

Resumable: runs already in ``--log`` are skipped. Example (docs/testing.md)::

    python tools/analysis_tools/learning_spread.py --seeds 0 1 2 3 4 \\
        --paths native default --log work_dirs/spread/runs.jsonl
"""
import argparse
import json
import os
import os.path as osp
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

from veca_mm.utils.md_table import markdown_table

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
PATHS = {
    'native': {},
    'avx2': dict(ATEN_CPU_CAPABILITY='avx2', MKL_ENABLE_INSTRUCTIONS='AVX2',
                 ONEDNN_MAX_CPU_ISA='AVX2'),
    'default': dict(ATEN_CPU_CAPABILITY='default',
                    MKL_ENABLE_INSTRUCTIONS='SSE4_2',
                    ONEDNN_MAX_CPU_ISA='SSE41'),
    'threads2': dict(VECA_TEST_THREADS='2'),
}


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2, 3, 4])
    p.add_argument('--paths', nargs='+', default=['native', 'default'],
                   choices=sorted(PATHS))
    p.add_argument('--runs', nargs='+', default=[], metavar='SEED:PATH',
                   help='extra single runs beyond the seeds x paths grid')
    p.add_argument('--log', default='work_dirs/learning_spread/runs.jsonl')
    p.add_argument('-k', default=None, help='pytest -k filter')
    p.add_argument('--jobs', type=int, default=1,
                   help='runs at once (each uses one core; two threads on '
                   'the threads2 path)')
    p.add_argument('--table-only', action='store_true',
                   help='print the table of the log; run nothing')
    args = p.parse_args(argv)
    for r in args.runs:
        seed, _, path = r.partition(':')
        if not seed.isdigit() or path not in PATHS:
            p.error(f'--runs {r!r}: want SEED:PATH with PATH one of '
                    f'{sorted(PATHS)}')
    return args


def path_of(env):
    """The kernel-path name of a logged run's environment."""
    for name, want in PATHS.items():
        if all(env.get(k, '') == want.get(k, '') for k in env):
            return name
    return 'custom'


def read_log(log):
    if not osp.isfile(log):
        return []
    return [json.loads(line) for line in open(log) if line.strip()]


def run_one(seed, path, log, k=None):
    env = dict(os.environ, VECA_TEST_SEED=str(seed), VECA_SPREAD_LOG=log,
               **PATHS[path])
    # the pytest process trains too (in-process tests): the same thread
    # count as the tools it starts, as under `make test`'s workers
    env['OMP_NUM_THREADS'] = env.get('VECA_TEST_THREADS', '1')
    cmd = [sys.executable, '-m', 'pytest', '-m', 'learns', '-q', '-p',
           'no:randomly', 'tests']
    if k:
        cmd += ['-k', k]
    t0 = time.time()
    out = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True,
                         text=True)
    text = out.stdout + out.stderr
    with open(f'{osp.splitext(log)[0]}_seed{seed}_{path}.txt', 'w') as f:
        f.write(text)  # the whole pytest output, for failures
    tail = text.strip().splitlines()[-1:]
    print(f'seed {seed} {path}: {time.time() - t0:.0f} s, {tail}',
          flush=True)


def table(rows):
    groups = {}
    for r in rows:
        groups.setdefault((r['test'], r['metric']), []).append(r)
    lines = []
    for (test, metric), rs in sorted(groups.items()):
        vals = [r['value'] for r in rs]
        higher = rs[0]['higher']
        worst = min(vals) if higher else max(vals)
        bar = rs[0]['bar']  # NaN: recorded, not asserted
        margin = worst - bar if higher else bar - worst
        trivial = statistics.median(r['trivial'] for r in rs)
        lines.append((test, f'{metric} {"↑" if higher else "↓"}', len(rs),
                      f'{min(vals):.3f}', f'{statistics.median(vals):.3f}',
                      f'{max(vals):.3f}', f'{trivial:.3f}', f'{bar:.3f}',
                      f'{margin:+.3f}'))
    return markdown_table(('test', 'metric', 'runs', 'min', 'median', 'max',
                           'trivial', 'bar', 'worst margin'), lines)


def main(argv=None):
    args = parse_args(argv)
    log = osp.abspath(args.log)
    os.makedirs(osp.dirname(log), exist_ok=True)
    if not args.table_only:
        plan = [(s, p) for p in args.paths for s in args.seeds]
        plan += [(int(r.split(':')[0]), r.split(':')[1]) for r in args.runs]
        done = {(r['seed'], path_of(r['env'])) for r in read_log(log)}
        for seed, path in plan:
            if (seed, path) in done:
                print(f'seed {seed} {path}: in the log, skipped')
        todo = [sp for sp in plan if sp not in done]
        with ThreadPoolExecutor(max(1, args.jobs)) as pool:
            list(pool.map(lambda sp: run_one(*sp, log, args.k), todo))
    rows = read_log(log)
    runs = sorted({(r['seed'], path_of(r['env'])) for r in rows})
    print(f'{len(runs)} runs: ' + ', '.join(f'{s}:{p}' for s, p in runs))
    print(table(rows))


if __name__ == '__main__':
    main()
