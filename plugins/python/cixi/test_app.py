"""Unit tests of the 慈溪 rules, natively: the expected answers are those of
``plugins/cixi/answers.json``, which the host's tests ask the built component
for too (``tests/it/languages.rs``).

Run from this folder: ``PYTHONPATH=../sdk python3 -m unittest``.
"""

import json
import pathlib
import unittest

import qingdan
from qingdan import Ability, Assistance, Benefit, Lines, Person

import app

ANSWERS = pathlib.Path(__file__).resolve().parents[2] / "cixi" / "answers.json"


def run(person, baseline=()):
    lines = Lines(baseline)
    app.evaluate(person, lines)
    return lines


class Cixi(unittest.TestCase):
    def test_the_expected_answers(self):
        cases = json.loads(ANSWERS.read_text(encoding="utf-8"))["cases"]
        self.assertGreater(len(cases), 5)
        for case in cases:
            with self.subTest(case["name"]):
                lines = qingdan.lines_from_records(case["baseline"])
                app.evaluate(qingdan.person_from_record(case["person"]), lines)
                self.assertEqual(qingdan.line_records(lines), case["lines"])

    def test_assessment_starts_at_sixty_and_is_yearly_from_eighty(self):
        self.assertEqual(run(Person.aged(60)).get(app.ASSESSMENT), Benefit.quota(1, 24))
        self.assertEqual(run(Person.aged(79)).get(app.ASSESSMENT), Benefit.quota(1, 24))
        self.assertEqual(run(Person.aged(80)).get(app.ASSESSMENT), Benefit.quota(1, 12))

    def test_bathing_for_disabled_dibao_and_edge_only(self):
        def bathes(assistance, ability):
            return run(Person(age=70, assistance=assistance, ability=ability)).has(app.BATHING)

        self.assertTrue(bathes(Assistance.DIBAO, Ability.SEVERE))
        self.assertTrue(bathes(Assistance.DIBAO_EDGE, Ability.MODERATE))
        self.assertFalse(bathes(Assistance.DIBAO_EDGE, Ability.MILD))
        self.assertFalse(bathes(Assistance.TEKUN, Ability.COMPLETE))
        self.assertFalse(bathes(Assistance.NONE, Ability.COMPLETE))

    def test_describes_the_same_items_as_the_rust_plugin(self):
        d = app.describe()
        self.assertEqual((d.county_code, d.county_name, d.baseline_code), ("330282", "慈溪市", "330200"))
        self.assertEqual([(i.code, i.key) for i in d.baseline_items], [(1, "ability-assessment")])
        self.assertEqual([(e.code, e.key) for e in d.extra_items], [(100, "bathing")])


if __name__ == "__main__":
    unittest.main()
