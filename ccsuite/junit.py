"""Adds up the JUnit XML reports of the test runs into one closing line."""
import sys
import xml.etree.ElementTree as ET


def totals(paths):
    counts = {'tests': 0, 'failures': 0, 'errors': 0, 'skipped': 0}
    for path in paths:
        root = ET.parse(path).getroot()
        suites = [root] if root.tag == 'testsuite' else root.iter('testsuite')
        for suite in suites:
            for key in counts:
                counts[key] += int(suite.get(key, 0))
    return counts


def main(paths):
    counts = totals(paths)
    failed = counts['failures'] + counts['errors']
    passed = counts['tests'] - failed - counts['skipped']
    print(f"total: {passed} passed, {failed} failed, "
        f"{counts['skipped']} skipped")
    return 1 if failed or not counts['tests'] else 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
