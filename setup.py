import os.path as osp

from setuptools import find_packages, setup


def read_version():
    ns = {}
    with open(osp.join(osp.dirname(__file__), 'veca_mm', 'version.py')) as f:
        exec(f.read(), ns)
    return ns['__version__']


setup(
    name='veca_mm',
    version=read_version(),
    description='VECA (Visual Elastic Core Attention) backbones for '
    'OpenMMLab dense prediction (mmsegmentation, mmdetection)',
    long_description=open('README.md').read() if osp.exists('README.md') else '',
    long_description_content_type='text/markdown',
    packages=find_packages(exclude=('configs', 'tools', 'tests')),
    python_requires='>=3.10',
    # Compatible ranges, so that installing into an existing mm environment
    # does not fight it; the exact, tested pins are in
    # requirements/constraints.txt (what `make setup` installs).
    install_requires=[
        'torch>=2.6',  # weights_only=True loading by default
        'torchvision',
        # AtomicCheckpointHook re-implements private CheckpointHook methods
        # of exactly this version and refuses any other when it is built
        'mmengine>=0.10.7,<0.10.8',
        'mmcv>=2.0.0rc4,<2.2.0',  # what mmseg 1.2 and mmdet 3.3 accept
        'mmsegmentation>=1.2.2,<1.3',
        'mmdet>=3.3.0,<3.4',
        'timm>=0.9',  # timm.layers (DropPath, LayerNorm2d)
        'pycocotools',
        'numpy',
    ],
    license='Apache License 2.0',
    zip_safe=False,
)
