// Unit tests of the JavaScript SDK, natively: `node --test` here. The batch
// loop is called with plain objects, the shapes ComponentizeJS gives the
// WIT types (records with camelCase fields, variants as {tag, val}, u64 as
// BigInt).

import assert from "node:assert/strict";
import { test } from "node:test";

import { Ability, Assistance, Benefit, DOMAIN_SIZE, Lines, Living, Person, exportCounty } from "./qingdan.js";

test("domain indices count age first and veteran last", () => {
  assert.equal(Person.fromIndex(0).index, Person.aged(60).index);
  const veteran = Person.fromIndex(1);
  assert.ok(veteran.veteranEntitled && !veteran.familyPlanningSpecial);
  const last = Person.fromIndex(DOMAIN_SIZE - 1);
  assert.deepEqual(
    [last.age, last.hukou, last.ability, last.assistance, last.disability, last.living],
    [120, 1, 5, 4, 4, 15],
  );
  assert.ok(last.familyPlanningSpecial && last.veteranEntitled);
  assert.equal(Person.fromIndex(19200).age, 61);
  assert.throws(() => Person.fromIndex(DOMAIN_SIZE), RangeError);
});

test("fields round-trip through the index", () => {
  const p = new Person({
    age: 77,
    ability: Ability.SEVERE,
    assistance: Assistance.DIBAO,
    living: Living.ALONE | Living.LEFT_BEHIND,
    veteranEntitled: true,
  });
  assert.equal(Person.fromIndex(p.index).living, Living.ALONE | Living.LEFT_BEHIND);
  assert.equal(p.with({ age: 78 }).age, 78);
  assert.ok(p.isDisabled() && p.isDibaoOrTekun() && p.ageIn(70, 79));
  assert.ok(!Person.aged(90).abilityAtLeast(Ability.INTACT));
  assert.throws(() => new Person({ age: 59 }), RangeError);
});

test("covers is the floor order, and at least never lowers", () => {
  assert.ok(Benefit.covers(Benefit.quota(1, 12), Benefit.quota(1, 24)));
  assert.ok(!Benefit.covers(Benefit.quota(1, 24), Benefit.quota(1, 12)));
  assert.ok(!Benefit.covers(Benefit.cashYuan(1), Benefit.right()));
  assert.deepEqual(Benefit.join(Benefit.voucher(50, 80), Benefit.voucher(30, 100)), Benefit.voucher(50, 100));
  const lines = new Lines([[1, Benefit.cashFen(10000)], [40000, Benefit.right()]]);
  lines.atLeast(1, Benefit.cashFen(7000));
  assert.equal(lines.cashFen(1), 10000);
  lines.plusCashYuan(1, 20);
  assert.equal(lines.cashFen(1), 12000);
  assert.deepEqual(lines.hostLines(), [[40000, Benefit.right()]]);
  assert.deepEqual(lines.remove(1), Benefit.cashFen(12000));
  assert.equal(lines.length, 1);
});

function rules(person, lines) {
  if (person.age >= 80) lines.atLeast(1, Benefit.quota(1, 12));
  if (person.assistance === Assistance.TEKUN && person.living & Living.ALONE) lines.add(100, Benefit.cashYuan(50));
  if (person.veteranEntitled && person.age === 120) throw new Error("no rule for this person");
}

const { county } = exportCounty(() => null, rules);

const wit = (lines) =>
  lines.map(([item, b]) => ({
    item,
    benefit: [
      { tag: "monthly-cash", val: BigInt(b[1]) },
      { tag: "quota", val: { count: b[1], months: b[2] } },
    ][b[0]],
  }));

test("the batch answers every person as evaluate does", () => {
  const baselines = [[], [[40000, Benefit.cashFen(6000)], [1, Benefit.quota(1, 24)]]];
  const persons = [];
  for (let p = 0; p < DOMAIN_SIZE; p += 37) persons.push(p);
  persons.push(DOMAIN_SIZE - 1);
  const baselineOf = persons.map((p) => p % 2);
  const answers = county.evaluateBatch({
    baselines: baselines.map(wit),
    persons: Uint32Array.from(persons),
    baselineOf: Uint32Array.from(baselineOf),
  });
  const errors = new Map(answers.errors);
  assert.equal(answers.outcomes.length, persons.length);
  persons.forEach((index, i) => {
    const lines = new Lines(baselines[baselineOf[i]]);
    try {
      rules(Person.fromIndex(index), lines);
    } catch (e) {
      assert.equal(errors.get(i), `Error: ${e.message}`);
      return;
    }
    assert.ok(!errors.has(i));
    assert.deepEqual(answers.answers[answers.outcomes[i]], wit(lines.lines));
  });
  // Interned: a handful of distinct answers for thousands of persons.
  assert.ok(answers.answers.length < 10);
});

test("bad indices are errors", () => {
  const answers = county.evaluateBatch({
    baselines: [[]],
    persons: [0, DOMAIN_SIZE, DOMAIN_SIZE + 1, 0, 5],
    baselineOf: [0, 0, 0, 1],
  });
  assert.deepEqual(
    answers.errors.map(([i]) => i),
    [1, 2, 3, 4],
  );
  assert.match(answers.errors[0][1], /not in the domain/);
  assert.match(answers.errors[2][1], /baseline index 1 is out of range/);
  assert.match(answers.errors[3][1], /no baseline index/);
});
