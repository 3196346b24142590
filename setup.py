"""Installs every addons/cc_* folder as the Tryton module trytond.modules.cc_*."""
from pathlib import Path

from setuptools import find_packages, setup

ADDONS = Path(__file__).parent / 'addons'
MODULE_DATA = [
    'tryton.cfg', '*.xml', 'view/*.xml', 'locale/*.po', 'locale/override/*.po',
    'icons/*.svg',
    'tests/*.rst', 'tests/*.json', 'data/*', '*.fodt', '*.fods']


def modules():
    return sorted(
        p.name for p in ADDONS.iterdir()
        if p.is_dir() and (p / 'tryton.cfg').exists())


def module_packages(name):
    root = ADDONS / name
    yield f'trytond.modules.{name}', root
    for sub in find_packages(str(root)):
        yield f'trytond.modules.{name}.{sub}', root / sub.replace('.', '/')


packages, package_dir = ['ccsuite'], {}
for name in modules():
    for package, path in module_packages(name):
        packages.append(package)
        package_dir[package] = str(path.relative_to(Path(__file__).parent))

setup(
    packages=packages,
    package_dir=package_dir,
    package_data={f'trytond.modules.{m}': MODULE_DATA for m in modules()},
    entry_points={
        'trytond.modules': [
            f'{m} = trytond.modules.{m}' for m in modules()],
        'console_scripts': [
            'cc-database = ccsuite.database:main',
            'cc-demo-data = ccsuite.demo:main',
            ],
        },
    )
