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
    install_requires=[
        'torch>=2.6',
        'torchvision',
        'mmengine==0.10.7',
        'mmcv==2.1.0',
        'mmsegmentation==1.2.2',
        'mmdet==3.3.0',
        'timm',
        'pycocotools',
        'numpy',
    ],
    license='Apache License 2.0',
    zip_safe=False,
)
