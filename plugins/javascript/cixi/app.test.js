// Unit tests of the 慈溪 rules, natively: the expected answers are those of
// plugins/cixi/answers.json, which the host's tests ask the built component
// for too (tests/it/languages.rs). Run from this folder: node --test.

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";

import { Ability, Assistance, Benefit, Lines, Person, lineRecords, linesFromRecords, personFromRecord } from "../sdk/qingdan.js";
import { ASSESSMENT, BATHING, describe, evaluate } from "./app.js";

const ANSWERS = new URL("../../cixi/answers.json", import.meta.url);

function run(person, baseline = []) {
  const lines = new Lines(baseline);
  evaluate(person, lines);
  return lines;
}

test("the expected answers", () => {
  const { cases } = JSON.parse(readFileSync(ANSWERS, "utf8"));
  assert.ok(cases.length > 5);
  for (const c of cases) {
    const lines = linesFromRecords(c.baseline);
    evaluate(personFromRecord(c.person), lines);
    assert.deepEqual(lineRecords(lines), c.lines, c.name);
  }
});

test("assessment starts at sixty and is yearly from eighty", () => {
  assert.deepEqual(run(Person.aged(60)).get(ASSESSMENT), Benefit.quota(1, 24));
  assert.deepEqual(run(Person.aged(79)).get(ASSESSMENT), Benefit.quota(1, 24));
  assert.deepEqual(run(Person.aged(80)).get(ASSESSMENT), Benefit.quota(1, 12));
});

test("bathing for disabled dibao and edge only", () => {
  const bathes = (assistance, ability) => run(new Person({ age: 70, assistance, ability })).has(BATHING);
  assert.ok(bathes(Assistance.DIBAO, Ability.SEVERE));
  assert.ok(bathes(Assistance.DIBAO_EDGE, Ability.MODERATE));
  assert.ok(!bathes(Assistance.DIBAO_EDGE, Ability.MILD));
  assert.ok(!bathes(Assistance.TEKUN, Ability.COMPLETE));
  assert.ok(!bathes(Assistance.NONE, Ability.COMPLETE));
});

test("describes the same items as the Rust plugin", () => {
  const d = describe();
  assert.deepEqual([d.countyCode, d.countyName, d.baselineCode], ["330282", "慈溪市", "330200"]);
  assert.deepEqual(d.baselineItems.map((i) => [i.code, i.key]), [[1, "ability-assessment"]]);
  assert.deepEqual(d.extraItems.map((e) => [e.code, e.key]), [[100, "bathing"]]);
});
