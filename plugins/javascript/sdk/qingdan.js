/**
 * Write a county's basic elderly-care service list (基本养老服务清单) as a
 * Qingdan plugin, in JavaScript.
 *
 * The JavaScript SDK mirrors the Rust SDK (`plugins/sdk`): a plugin says,
 * for one person, which entitlement lines the county gives. It starts from
 * the city's baseline lines for that person and may raise them or add
 * items; the host proves over every possible person that nobody gets less
 * than the baseline.
 *
 * A plugin module exports the WIT interfaces of the world `county-list`
 * (`qingdan:county@0.2.0`) from two functions:
 *
 * ```js
 * import { Benefit, Description, Item, exportCounty } from "./qingdan.js";
 *
 * const ASSESSMENT = new Item(1, "ability-assessment");
 *
 * export function describe() {
 *   return new Description("330282", "慈溪市", "330200").baseline(ASSESSMENT);
 * }
 *
 * export function evaluate(person, lines) {
 *   lines.atLeast(ASSESSMENT, Benefit.quota(1, person.age >= 80 ? 12 : 24));
 * }
 *
 * export const { county, types } = exportCounty(describe, evaluate);
 * ```
 *
 * Values are plain JavaScript: enumerations are small integers in the order
 * of the WIT (so `person.assistance >= Assistance.DIBAO_EDGE` works), a
 * benefit is a frozen array `[kind, a, b, c]` made by the `Benefit`
 * constructors, money is integer fen as a `Number` (exact up to 2^53 fen).
 *
 * The batch loop (`evaluate-batch`, which the floor proof calls for all
 * 1,171,200 persons of the domain, twice) is the hot path. An interpreter
 * pays for every operation and every object, so the SDK evaluates each
 * *distinct situation* once per batch: while `evaluate` runs, the person
 * records which of their fields it reads, and the SDK keeps, per baseline,
 * a decision tree over those fields. The next person who agrees on every
 * field read (and has the same baseline lines) gets the same answer without
 * running `evaluate` or allocating anything. This is exact for rules that
 * depend only on the person and the lines, which is what the host requires
 * of every plugin (it proves the answer table twice, in different orders
 * and batch sizes, and refuses a component whose answers differ).
 *
 * @module qingdan
 */

/** Item codes from this value up are the host's (pass such lines through). */
export const HOST_CODES_FROM = 32768;

/** Persons in the domain: every combination of the person's fields. */
export const DOMAIN_SIZE = 1171200;

/** 户籍. */
export const Hukou = Object.freeze({ LOCAL: 0, NON_LOCAL: 1 });

/** GB/T 42195-2022 ability level, ordered; `UNASSESSED` is below all. */
export const Ability = Object.freeze({
  UNASSESSED: 0,
  INTACT: 1,
  MILD: 2,
  MODERATE: 3,
  SEVERE: 4,
  COMPLETE: 5,
});

/** The strongest economic-assistance status (低收入 < 低保边缘 < 低保 < 特困). */
export const Assistance = Object.freeze({
  NONE: 0,
  LOW_INCOME: 1,
  DIBAO_EDGE: 2,
  DIBAO: 3,
  TEKUN: 4,
});

/** Grade on the disability certificate; `GRADE1` is the most severe. */
export const Disability = Object.freeze({
  NONE: 0,
  GRADE4: 1,
  GRADE3: 2,
  GRADE2: 3,
  GRADE1: 4,
});

/** Living-situation flags (独居, 空巢, 留守, 孤寡), combined with `|`. */
export const Living = Object.freeze({
  NONE: 0,
  ALONE: 1,
  EMPTY_NEST: 2,
  LEFT_BEHIND: 4,
  CHILDLESS_WIDOWED: 8,
});

/** The three categories of the national list. */
export const Category = Object.freeze({
  MATERIAL_ASSISTANCE: 0,
  CARE_SERVICE: 1,
  CARING_SERVICE: 2,
});

// The person's fields as digits of the domain index, most significant
// first: [name, stride, radix]. The index is documented on `batch` in the
// WIT.
const DIGITS = [
  ["age", 19200, 61],
  ["hukou", 9600, 2],
  ["ability", 1600, 6],
  ["assistance", 320, 5],
  ["disability", 64, 5],
  ["living", 4, 16],
  ["familyPlanningSpecial", 2, 2],
  ["veteranEntitled", 1, 2],
];

/**
 * A person as a county plugin sees them: no name, no identity number.
 * Every field has a finite domain, so a person *is* their index in the
 * domain (`Person.fromIndex`); the fields are read from it.
 * `new Person({ age: 70, assistance: Assistance.DIBAO })` makes one for a
 * test (fields left out take their first value).
 */
export class Person {
  constructor(fields = {}) {
    const values = [
      (fields.age ?? 60) - 60,
      fields.hukou ?? 0,
      fields.ability ?? 0,
      fields.assistance ?? 0,
      fields.disability ?? 0,
      fields.living ?? 0,
      fields.familyPlanningSpecial ? 1 : 0,
      fields.veteranEntitled ? 1 : 0,
    ];
    let index = 0;
    DIGITS.forEach(([name, stride, radix], n) => {
      const value = values[n];
      if (!Number.isInteger(value) || value < 0 || value >= radix) {
        throw new RangeError(`person field ${name} is out of range: ${value}`);
      }
      index += value * stride;
    });
    this.index = index;
    this.trace = null;
  }

  /** The person with this domain index (0 <= index < DOMAIN_SIZE). While
   * `trace` (`{mask, path}`) is given, the fields read are recorded in it. */
  static fromIndex(index, trace = null) {
    if (!Number.isInteger(index) || index < 0 || index >= DOMAIN_SIZE) {
      throw new RangeError(`person index ${index} is not in the domain`);
    }
    const person = Object.create(Person.prototype);
    person.index = index;
    person.trace = trace;
    return person;
  }

  /** A local person of this age with every other field at its first value. */
  static aged(age) {
    return new Person({ age });
  }

  /** A copy with some fields changed. */
  with(fields) {
    const values = {};
    for (const [name] of DIGITS) values[name] = this[name];
    return new Person({ ...values, ...fields });
  }

  /** Any assistance status (低收入 or above). */
  isEconomicallyDifficult() {
    return this.assistance !== Assistance.NONE;
  }

  /** 低保 or 特困. */
  isDibaoOrTekun() {
    return this.assistance >= Assistance.DIBAO;
  }

  /** Assessed at `level` or worse (an unassessed person never is). */
  abilityAtLeast(level) {
    const ability = this.ability;
    return ability !== Ability.UNASSESSED && ability >= level;
  }

  /** 失能: moderate, severe or complete loss of ability. */
  isDisabled() {
    return this.abilityAtLeast(Ability.MODERATE);
  }

  /** 重度残疾: certificate grade 1 or 2. */
  hasSevereDisability() {
    return this.disability >= Disability.GRADE2;
  }

  /** `low <= age <= high`. */
  ageIn(low, high) {
    const age = this.age;
    return low <= age && age <= high;
  }
}

// One getter per field: decode the digit, and record the first read of
// each field (number and digit, in order) while the SDK traces an
// evaluation. Written without closures over a converter, iterators or
// maps: the interpreter inside the component pays for each.
DIGITS.forEach(([name, stride, radix], number) => {
  const bit = 1 << number;
  const digitOf = (person) => {
    const digit = ((person.index / stride) | 0) % radix;
    const trace = person.trace;
    if (trace !== null && (trace.mask & bit) === 0) {
      trace.mask |= bit;
      trace.path.push(number, digit);
    }
    return digit;
  };
  let get;
  if (name === "age") {
    get = function () {
      return digitOf(this) + 60;
    };
  } else if (name === "familyPlanningSpecial" || name === "veteranEntitled") {
    get = function () {
      return digitOf(this) === 1;
    };
  } else {
    get = function () {
      return digitOf(this);
    };
  }
  Object.defineProperty(Person.prototype, name, { enumerable: true, get });
});

const U64_SAFE = Number.MAX_SAFE_INTEGER;
const clampFen = (fen) => Math.min(fen, U64_SAFE);

/**
 * Constructors of benefits. A benefit is a frozen array `[kind, a, b, c]`:
 * `[MONTHLY_CASH, fen, 0, 0]`, `[QUOTA, count, months, 0]`,
 * `[ONE_OFF, fixed fen, percent, cap fen]`, `[VOUCHER, percent, monthly cap
 * fen, 0]` or `[RIGHT, 0, 0, 0]`. Compare them with `Benefit.equal`.
 */
export const Benefit = Object.freeze({
  MONTHLY_CASH: 0,
  QUOTA: 1,
  ONE_OFF: 2,
  VOUCHER: 3,
  RIGHT: 4,
  /** Monthly cash, in fen. */
  cashFen: (fen) => Object.freeze([0, clampFen(fen), 0, 0]),
  /** Monthly cash, in yuan. */
  cashYuan: (yuan) => Object.freeze([0, clampFen(yuan * 100), 0, 0]),
  /** A service `count` times every `months` months. */
  quota: (count, months) => Object.freeze([1, count, months, 0]),
  /** A one-off grant: fixed fen plus `percent` of the cost up to `capFen`. */
  oneOff: (fixedFen, percent, capFen) => Object.freeze([2, fixedFen, percent, capFen]),
  /** A fixed one-off grant, in yuan. */
  oneOffYuan: (yuan) => Object.freeze([2, clampFen(yuan * 100), 0, 0]),
  /** `percent` of the cost, up to `capYuan` yuan, once. */
  oneOffShare: (percent, capYuan) => Object.freeze([2, 0, percent, clampFen(capYuan * 100)]),
  /** A voucher paying `percent` of spending, up to `capYuan` yuan a month. */
  voucher: (percent, capYuan) => Object.freeze([3, percent, clampFen(capYuan * 100), 0]),
  /** A right, such as priority admission to a public care home. */
  right: () => Object.freeze([4, 0, 0, 0]),
  /** Whether two benefits are the same. */
  equal: (a, b) => a[0] === b[0] && a[1] === b[1] && a[2] === b[2] && a[3] === b[3],
  /** Whether `a` is at least as generous as `b` (the host's order). */
  covers(a, b) {
    const kind = a[0];
    if (kind !== b[0]) return false;
    switch (kind) {
      case 0:
        return a[1] >= b[1];
      case 1:
        // Exact for counts and months below 2^26 (the products stay below 2^53).
        return a[2] !== 0 && a[1] * b[2] >= b[1] * a[2];
      case 2:
        return a[1] >= b[1] && a[2] >= b[2] && a[3] >= b[3];
      case 3:
        return a[1] >= b[1] && a[2] >= b[2];
      default:
        return true;
    }
  },
  /** The least benefit covering both, or null for different kinds. */
  join(a, b) {
    const kind = a[0];
    if (kind !== b[0]) return null;
    if (kind === 1) return Benefit.covers(a, b) ? a : b;
    return Object.freeze([kind, Math.max(a[1], b[1]), Math.max(a[2], b[2]), Math.max(a[3], b[3])]);
  },
});

function checkCode(code) {
  if (!Number.isInteger(code) || code < 0 || code >= HOST_CODES_FROM) {
    throw new RangeError(`item code ${code} must be below ${HOST_CODES_FROM}`);
  }
}

const codeOf = (item) => (typeof item === "number" ? item : item.code);

/** A baseline item the plugin reads or raises, by its catalogue key. */
export class Item {
  constructor(code, key) {
    checkCode(code);
    this.code = code;
    this.key = key;
    Object.freeze(this);
  }
}

/** An item the county adds beyond the baseline. */
export class Extra {
  constructor(code, key, name, category, legalBasis) {
    checkCode(code);
    this.code = code;
    this.key = key;
    this.name = name;
    this.category = category;
    this.legalBasis = legalBasis;
    Object.freeze(this);
  }
}

/** Who the plugin is and which items it names. */
export class Description {
  constructor(countyCode, countyName, baselineCode) {
    this.countyCode = countyCode;
    this.countyName = countyName;
    this.baselineCode = baselineCode;
    this.baselineItems = [];
    this.extraItems = [];
  }

  /** Names a baseline item (an `Item`). */
  baseline(item) {
    this.baselineItems.push(item);
    return this;
  }

  /** Declares an extra item (an `Extra`). */
  extra(item) {
    this.extraItems.push(item);
    return this;
  }
}

/**
 * The person's lines: `[code, benefit]` pairs, changed in place. On entry
 * they are the baseline lines, under the codes of the items the
 * description names or host codes (from 32768) for the others.
 */
export class Lines {
  constructor(lines = []) {
    this.lines = Array.isArray(lines) ? lines.slice() : Array.from(lines);
  }

  position(code) {
    const lines = this.lines;
    for (let i = 0; i < lines.length; i++) if (lines[i][0] === code) return i;
    return -1;
  }

  /** The benefit of `item` (an Item, Extra or code), or null. */
  get(item) {
    const i = this.position(codeOf(item));
    return i < 0 ? null : this.lines[i][1];
  }

  /** Whether there is a line for `item`. */
  has(item) {
    return this.position(codeOf(item)) >= 0;
  }

  /** The monthly cash of `item` in fen, or null. */
  cashFen(item) {
    const benefit = this.get(item);
    return benefit !== null && benefit[0] === 0 ? benefit[1] : null;
  }

  /** Sets the line of `item` (this can lower a baseline line). */
  set(item, benefit) {
    const code = codeOf(item);
    const i = this.position(code);
    if (i < 0) this.lines.push([code, benefit]);
    else this.lines[i] = [code, benefit];
  }

  /** Adds (or sets) the line of an extra item. */
  add(item, benefit) {
    this.set(item, benefit);
  }

  /** Raises `item` to at least `benefit`; a more generous line stays. */
  atLeast(item, benefit) {
    const code = codeOf(item);
    const i = this.position(code);
    if (i < 0) {
      this.lines.push([code, benefit]);
    } else {
      const joined = Benefit.join(this.lines[i][1], benefit);
      this.lines[i] = [code, joined === null ? benefit : joined];
    }
  }

  /** Adds `fen` to the monthly cash of `item` (a line of another kind stays). */
  plusCashFen(item, fen) {
    const code = codeOf(item);
    const i = this.position(code);
    if (i < 0) this.lines.push([code, Benefit.cashFen(fen)]);
    else if (this.lines[i][1][0] === 0) {
      this.lines[i] = [code, Benefit.cashFen(this.lines[i][1][1] + fen)];
    }
  }

  /** Adds `yuan` to the monthly cash of `item`. */
  plusCashYuan(item, yuan) {
    this.plusCashFen(item, yuan * 100);
  }

  /** Removes the line of `item`; returns its benefit or null. */
  remove(item) {
    const i = this.position(codeOf(item));
    return i < 0 ? null : this.lines.splice(i, 1)[0][1];
  }

  /** The lines under host codes (items the description does not name). */
  hostLines() {
    return this.lines.filter((line) => line[0] >= HOST_CODES_FROM);
  }

  /** Number of lines. */
  get length() {
    return this.lines.length;
  }

  [Symbol.iterator]() {
    return this.lines[Symbol.iterator]();
  }
}

// Records: the JSON shapes of the host (`qingdan eval --json`, the answer
// files of the examples' tests), for tests.

const HUKOU = ["local", "non-local"];
const ABILITY = ["unassessed", "intact", "mild", "moderate", "severe", "complete"];
const ASSISTANCE = ["none", "low-income", "dibao-edge", "dibao", "tekun"];
const DISABILITY = ["none", "grade4", "grade3", "grade2", "grade1"];
const LIVING = ["alone", "empty-nest", "left-behind", "childless-widowed"];
const KINDS = ["monthly-cash", "quota", "one-off", "voucher", "right"];
const RECORD_FIELDS = [["fen"], ["count", "months"], ["fixed", "percent", "cap"], ["percent", "monthly_cap"], []];

function position(names, value, field) {
  const i = names.indexOf(value);
  if (i < 0) throw new RangeError(`${field}: unknown value ${JSON.stringify(value)}`);
  return i;
}

/** A `Person` from the host's JSON record of a person. */
export function personFromRecord(record) {
  let living = 0;
  for (const flag of record.living ?? []) living |= 1 << position(LIVING, flag, "living");
  return new Person({
    age: record.age,
    hukou: position(HUKOU, record.hukou, "hukou"),
    ability: position(ABILITY, record.ability, "ability"),
    assistance: position(ASSISTANCE, record.assistance, "assistance"),
    disability: position(DISABILITY, record.disability, "disability"),
    living,
    familyPlanningSpecial: record.family_planning_special ?? false,
    veteranEntitled: record.veteran_entitled ?? false,
  });
}

/** A benefit from the host's JSON record of one (`{"kind": "quota", ...}`). */
export function benefitFromRecord(record) {
  const kind = position(KINDS, record.kind, "kind");
  const values = RECORD_FIELDS[kind].map((name) => record[name] ?? 0);
  while (values.length < 3) values.push(0);
  return Object.freeze([kind, ...values]);
}

/** The host's JSON record of a benefit. */
export function benefitRecord(benefit) {
  const record = { kind: KINDS[benefit[0]] };
  RECORD_FIELDS[benefit[0]].forEach((name, i) => {
    record[name] = benefit[i + 1];
  });
  return record;
}

/** `Lines` from the host's JSON lines (`[{"item": 1, "benefit": {...}}]`). */
export function linesFromRecords(records) {
  return new Lines(records.map((r) => [r.item, benefitFromRecord(r.benefit)]));
}

/** The host's JSON records of `lines`. */
export function lineRecords(lines) {
  return Array.from(lines, ([item, benefit]) => ({ item, benefit: benefitRecord(benefit) }));
}

// The component side: the exports of `qingdan:county@0.2.0`.

const CATEGORIES = ["material-assistance", "care-service", "caring-service"];
const TAGS = KINDS;

/**
 * The component's exports from the plugin's two functions: `county`
 * (`describe` and `evaluateBatch`) and `types` (an interface without
 * functions). Export both from the plugin module:
 * `export const { county, types } = exportCounty(describe, evaluate);`
 */
export function exportCounty(describe, evaluate) {
  return {
    county: {
      describe: () => witDescription(describe()),
      evaluateBatch: (work) => evaluateBatch(evaluate, work),
    },
    types: {},
  };
}

function witDescription(d) {
  return {
    countyCode: d.countyCode,
    countyName: d.countyName,
    baseline: d.baselineCode,
    baselineItems: d.baselineItems.map((i) => ({ code: i.code, key: i.key })),
    extraItems: d.extraItems.map((e) => ({
      code: e.code,
      key: e.key,
      name: e.name,
      category: CATEGORIES[e.category],
      legalBasis: e.legalBasis,
    })),
  };
}

function fromWit(line) {
  const b = line.benefit;
  const v = b.val;
  let benefit;
  switch (b.tag) {
    case "monthly-cash":
      benefit = [0, Number(v), 0, 0];
      break;
    case "quota":
      benefit = [1, v.count, v.months, 0];
      break;
    case "one-off":
      benefit = [2, Number(v.fixed), v.percent, Number(v.cap)];
      break;
    case "voucher":
      benefit = [3, v.percent, Number(v.monthlyCap), 0];
      break;
    default:
      benefit = [4, 0, 0, 0];
  }
  return [line.item, Object.freeze(benefit)];
}

function toWit([item, [kind, a, b, c]]) {
  let val;
  switch (kind) {
    case 0:
      val = BigInt(a);
      break;
    case 1:
      val = { count: a, months: b };
      break;
    case 2:
      val = { fixed: BigInt(a), percent: b, cap: BigInt(c) };
      break;
    case 3:
      val = { percent: a, monthlyCap: BigInt(b) };
      break;
    default:
      return { item, benefit: { tag: "right" } };
  }
  return { item, benefit: { tag: TAGS[kind], val } };
}

/**
 * `evaluate-batch`: every person's answer, interned, through one decision
 * tree per baseline (see the module documentation). A tree node is
 * `{stride, radix, branches}`: the digit of the index it looks at and the
 * subtree for each value seen; a leaf is the number of an answer or the
 * reason the evaluation failed (a string).
 */
function evaluateBatch(evaluate, work) {
  const baselines = Array.from(work.baselines, (lines) => Array.from(lines, fromWit));
  const persons = work.persons;
  const baselineOf = work.baselineOf;
  const trees = new Array(baselines.length).fill(undefined);
  const state = { answers: [], byHash: new Map() };
  const count = persons.length;
  // A typed array crosses the boundary as one copy; a plain array of
  // numbers is lowered element by element, which cost some 35,000 fuel per
  // person (more than everything else of the batch together).
  const outcomes = new Uint32Array(count);
  const errors = [];
  for (let i = 0; i < count; i++) {
    const index = persons[i];
    const base = baselineOf[i];
    // (An index past the domain would wrap around in the tree: it goes to
    // `evaluateOne`, which refuses it.)
    let node = index < DOMAIN_SIZE ? trees[base] : undefined;
    while (typeof node === "object") {
      node = node.branches[((index / node.stride) | 0) % node.radix];
    }
    if (node === undefined) node = evaluateOne(evaluate, index, base, baselines, trees, state);
    if (typeof node === "number") {
      outcomes[i] = node;
    } else {
      errors.push([i, node]);
    }
  }
  return {
    answers: state.answers.map((answer) => answer.map(toWit)),
    outcomes,
    errors,
  };
}

/** A hash of an answer's lines (codes and benefit figures). */
function hashLines(lines) {
  let h = lines.length;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    const b = line[1];
    h = (Math.imul(h, 31) + line[0]) | 0;
    h = (Math.imul(h, 31) + b[0]) | 0;
    h = (Math.imul(h, 31) + b[1]) | 0;
    h = (Math.imul(h, 31) + b[2]) | 0;
    h = (Math.imul(h, 31) + b[3]) | 0;
  }
  return h;
}

function sameLines(a, b) {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    const x = a[i];
    const y = b[i];
    if (x[0] !== y[0] || !Benefit.equal(x[1], y[1])) return false;
  }
  return true;
}

/** The number of the answer equal to `lines`, adding it if new. */
function intern(state, lines) {
  const h = hashLines(lines);
  let numbers = state.byHash.get(h);
  if (numbers === undefined) {
    numbers = [];
    state.byHash.set(h, numbers);
  }
  for (let i = 0; i < numbers.length; i++) {
    if (sameLines(state.answers[numbers[i]], lines)) return numbers[i];
  }
  const n = state.answers.length;
  state.answers.push(lines);
  numbers.push(n);
  return n;
}

/** Evaluates one person whom the tree does not answer yet, adds the answer
 * to the tree and returns the leaf. */
function evaluateOne(evaluate, index, base, baselines, trees, state) {
  if (base === undefined) return "the person has no baseline index";
  if (!(index >= 0 && index < DOMAIN_SIZE)) return `person index ${index} is not in the domain`;
  if (!(base >= 0 && base < baselines.length)) return `baseline index ${base} is out of range`;
  const trace = { mask: 0, path: [] };
  const lines = new Lines(baselines[base]);
  let leaf;
  try {
    evaluate(Person.fromIndex(index, trace), lines);
    leaf = intern(state, lines.lines);
  } catch (e) {
    // The person gets the baseline; the team sees why.
    leaf = String(e instanceof Error ? `${e.name}: ${e.message}` : e).slice(0, 1000);
  }
  insert(trees, base, trace.path, leaf);
  return leaf;
}

/** Adds the path of the fields read (field number and digit, in the order
 * first read) to the tree of `base`. A path that disagrees with the tree
 * (rules that read different fields for the same values) is not kept. */
function insert(trees, base, path, leaf) {
  let parent = trees;
  let key = base;
  let node = trees[base];
  for (let i = 0; i < path.length; i += 2) {
    const digit = path[i + 1];
    const stride = DIGITS[path[i]][1];
    const radix = DIGITS[path[i]][2];
    if (node === undefined) {
      node = { stride, radix, branches: new Array(radix).fill(undefined) };
      parent[key] = node;
    } else if (typeof node !== "object" || node.stride !== stride) {
      return;
    }
    parent = node.branches;
    key = digit;
    node = parent[digit];
  }
  if (node === undefined) parent[key] = leaf;
}
