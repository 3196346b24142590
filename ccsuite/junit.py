"""Adds up the JUnit XML reports of the test runs into one closing line.

pytest counts subtests (trytond's ModuleTestCase checks every field and
view in one) in the suite's ``tests`` attribute but writes no <testcase>
for a passing one: tests are counted from their <testcase>, once each,
and subtests on their own."""
import sys
import xml.etree.ElementTree as ET


def outcome(element):
    tags = {child.tag for child in element}
    if tags & {'failure', 'error'}:
        return 'failed'
    if 'skipped' in tags:
        return 'skipped'
    return 'passed'


def totals(paths):
    "Per report and test, the worst outcome; and the subtest count."
    tests, reported = {}, 0
    rank = {'passed': 0, 'skipped': 1, 'failed': 2}
    for path in paths:
        root = ET.parse(path).getroot()
        reported += sum(int(suite.get('tests', 0))
            for suite in root.iter('testsuite'))
        for case in root.iter('testcase'):
            key = (path, case.get('classname'), case.get('name'))
            result = outcome(case)
            if rank[result] >= rank[tests.get(key, 'passed')]:
                tests[key] = result
    counts = {'passed': 0, 'failed': 0, 'skipped': 0}
    for result in tests.values():
        counts[result] += 1
    counts['subtests'] = max(reported - len(tests), 0)
    return counts


def main(paths):
    counts = totals(paths)
    print(f"total: {counts['passed']} passed, {counts['failed']} failed, "
        f"{counts['skipped']} skipped ({counts['subtests']} subtests)")
    return 1 if counts['failed'] or not sum(counts.values()) else 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
