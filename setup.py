"""Install trainkit: ``pip install -e '.[dev]'``."""
from setuptools import find_packages, setup

setup(
    name='trainkit',
    version='0.1.0',
    description='A lean, config-driven PyTorch training framework in the MMEngine style.',
    long_description=open('README.md', encoding='utf-8').read(),
    long_description_content_type='text/markdown',
    python_requires='>=3.9',
    packages=find_packages(include=['trainkit', 'trainkit.*']) + ['trainkit_tools'],
    package_dir={'trainkit_tools': 'tools'},
    install_requires=[
        'torch>=2.1',
        'mmengine>=0.10,<0.11',
        'pytorch-warmup>=0.1.1',
        'addict',
        'numpy',
        'h5py',
        'pyyaml',
        'tqdm',
        'matplotlib',
    ],
    extras_require={
        'tensorboard': ['tensorboard>=2.10'],
        'search': ['optuna>=3.6'],  # 3.6: GPSampler
        'ase': ['ase>=3.22'],
        'dev': ['pytest>=7', 'ruff>=0.4', 'tensorboard>=2.10', 'optuna>=3.6', 'ase>=3.22'],
    },
    entry_points={'console_scripts': [
        'trainkit-train=trainkit_tools.train:main',
        'trainkit-vis-scheduler=trainkit_tools.vis_scheduler:main',
        'trainkit-test=trainkit_tools.test:main',
        'trainkit-export=trainkit_tools.export:main',
        'trainkit-search=trainkit_tools.search:main',
        'trainkit-lr-find=trainkit_tools.lr_find:main',
    ]},
)
