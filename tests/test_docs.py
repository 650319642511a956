"""Every relative link in README.md and docs/*.md resolves (file and anchor),
and the repo root carries nothing stray."""
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DOCS = [REPO / 'README.md'] + sorted((REPO / 'docs').glob('*.md'))
# [text](target) and ![alt](target); the target ends at the first space or ')'
LINK = re.compile(r'!?\[[^\]]*\]\(([^)\s]+)(?:\s+"[^"]*")?\)')
FENCE = re.compile(r'^(```|~~~).*?^\1', re.S | re.M)


def slug(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped
    (``-`` and ``_`` kept), spaces to ``-``."""
    text = re.sub(r'`([^`]*)`', r'\1', heading.strip().lower())
    text = re.sub(r'\[([^\]]*)\]\([^)]*\)', r'\1', text)  # linked text
    text = re.sub(r'[^\w\- ]', '', text)
    return text.replace(' ', '-')


def anchors(path: Path) -> set:
    text = FENCE.sub('', path.read_text())
    seen, out = {}, set()
    for line in text.splitlines():
        m = re.match(r'#{1,6}\s+(.*?)\s*#*\s*$', line)
        if not m:
            continue
        base = slug(m.group(1))
        n = seen.get(base, 0)
        seen[base] = n + 1
        out.add(base if n == 0 else f'{base}-{n}')
    return out


def relative_links(path: Path):
    text = FENCE.sub('', path.read_text())
    for target in LINK.findall(text):
        if re.match(r'^[a-z][a-z0-9+.-]*:', target, re.I):  # http:, mailto:
            continue
        yield target


@pytest.mark.parametrize('doc', DOCS, ids=[d.name for d in DOCS])
def test_relative_links_resolve(doc):
    broken = []
    for target in relative_links(doc):
        file_part, _, anchor = target.partition('#')
        dest = (doc.parent / file_part).resolve() if file_part else doc
        if not dest.exists():
            broken.append(f'{target}: {dest} does not exist')
        elif anchor and dest.suffix == '.md' and anchor not in anchors(dest):
            broken.append(f'{target}: no heading #{anchor} in {dest.name}')
    assert not broken, f'{doc.name}: broken links:\n' + '\n'.join(broken)


def test_the_link_checker_catches_broken_links(tmp_path):
    doc = tmp_path / 'a.md'
    (tmp_path / 'b.md').write_text('# Title\n## The `x` part: more\n')
    doc.write_text('[ok](b.md#the-x-part-more) [bad](c.md) '
                   '[bad anchor](b.md#nope) [web](https://x.org/y)\n'
                   '```\n[in code](nowhere.md)\n```\n')
    assert list(relative_links(doc)) == ['b.md#the-x-part-more', 'c.md',
                                         'b.md#nope']
    assert anchors(tmp_path / 'b.md') == {'title', 'the-x-part-more'}


def test_readme_is_a_front_door():
    """The README stays short; the details live in docs/ and are linked."""
    text = (REPO / 'README.md').read_text()
    assert len(text) < 16_000, 'README.md grew: move details into docs/'
    linked = {t.partition('#')[0] for t in relative_links(REPO / 'README.md')}
    for doc in ('docs/install.md', 'docs/troubleshooting.md',
                'docs/benchmarks.md'):
        assert doc in linked, f'README.md does not link {doc}'


def test_no_stray_files_at_the_root():
    stray = [p.name for p in REPO.iterdir()
             if p.suffix in ('.whl', '.tar.gz', '.zip', '.egg')]
    assert not stray, f'stray files at the repo root: {stray}'


def _install_requires():
    import ast
    tree = ast.parse((REPO / 'setup.py').read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.keyword) and node.arg == 'install_requires':
            return ast.literal_eval(node.value)
    raise AssertionError('setup.py has no install_requires')


def test_setup_states_ranges_and_the_pins_fall_inside():
    """install_requires states compatible ranges (no ``==``), so installing
    into an existing mm environment does not fight it; the exact pins of
    requirements/constraints.txt satisfy those ranges."""
    from packaging.requirements import Requirement
    reqs = {Requirement(r).name.lower(): Requirement(r)
            for r in _install_requires()}
    assert not [str(r) for r in reqs.values()
                if any(s.operator in ('==', '===') for s in r.specifier)]
    pins = {}
    for line in (REPO / 'requirements' / 'constraints.txt').read_text(
    ).splitlines():
        line = line.split('#')[0].strip()
        if '==' in line:
            name, version = line.split('==')
            pins[name.strip().lower()] = version.strip()
    for name in ('mmengine', 'mmcv', 'mmsegmentation', 'mmdet', 'torch'):
        assert name in reqs and name in pins, name
        assert reqs[name].specifier.contains(pins[name], prereleases=True), \
            (name, str(reqs[name].specifier), pins[name])
