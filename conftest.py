"""Collects the modules' scenario doctests (tests/scenario_*.rst) as pytest
items: trytond loads them through unittest's load_tests, which pytest
ignores, so without this they would silently not run."""
import doctest
import unittest

import pytest


def pytest_collect_file(parent, file_path):
    if (file_path.suffix == '.rst' and file_path.name.startswith('scenario_')
            and file_path.parent.name == 'tests'):
        return ScenarioFile.from_parent(parent, path=file_path)


class ScenarioFile(pytest.File):
    def collect(self):
        yield ScenarioItem.from_parent(self, name=self.path.stem)


class ScenarioFailure(Exception):
    pass


class ScenarioItem(pytest.Item):
    def runtest(self):
        from trytond import backend
        from trytond.tests import test_tryton
        flags = (doctest.REPORT_ONLY_FIRST_FAILURE | doctest.ELLIPSIS
            | doctest.IGNORE_EXCEPTION_DETAIL)
        if backend.name == 'sqlite':
            flags |= test_tryton.STRIP_DECIMAL
        suite = doctest.DocFileSuite(
            str(self.path), module_relative=False,
            setUp=test_tryton.doctest_setup,
            tearDown=test_tryton.doctest_teardown,
            encoding='utf-8', checker=test_tryton.doctest_checker,
            optionflags=flags)
        result = unittest.TestResult()
        suite.run(result)
        problems = result.failures + result.errors
        if problems:
            raise ScenarioFailure('\n'.join(text for _, text in problems))

    def repr_failure(self, excinfo):
        if isinstance(excinfo.value, ScenarioFailure):
            return str(excinfo.value)
        return super().repr_failure(excinfo)

    def reportinfo(self):
        return self.path, None, f'scenario: {self.name}'
