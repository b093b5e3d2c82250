/**
 * 慈溪市 (330282), a county-level city under 宁波市 (330200), in JavaScript.
 *
 * The same rules as the Rust plugin `plugins/cixi` (its comments give the
 * source, 《慈溪市加快建设基本养老服务体系的实施方案》 of 2024-08-02), and the
 * same description, so both components have the same answer table:
 *
 * - free ability assessment every two years from 60 and yearly from 80 (the
 *   Ningbo baseline starts at 65);
 * - free bathing (免费助浴服务) at least once a year for 低保 and 低边 elders
 *   who are 失能 (moderate, severe or complete loss of ability);
 * - the old-age allowance equals the city's: the baseline lines pass through.
 */

import { Assistance, Benefit, Category, Description, Extra, Item, exportCounty } from "../sdk/qingdan.js";

/** 能力综合评估 (national item 3). */
export const ASSESSMENT = new Item(1, "ability-assessment");

/** 免费助浴服务, under the key `catalogues/cixi-2024.toml` gives the same item. */
export const BATHING = new Extra(
  100,
  "bathing",
  "免费助浴服务",
  Category.CARE_SERVICE,
  "慈溪实施方案：力爭低保低邊失能老年人每年享受一次以上的免費助浴服務",
);

const YEARLY = Benefit.quota(1, 12);
const EVERY_TWO_YEARS = Benefit.quota(1, 24);

export function describe() {
  return new Description("330282", "慈溪市", "330200").baseline(ASSESSMENT).extra(BATHING);
}

export function evaluate(person, lines) {
  // Every elder evaluated is 60 or older; a more frequent baseline line is kept.
  lines.atLeast(ASSESSMENT, person.age >= 80 ? YEARLY : EVERY_TWO_YEARS);
  const assistance = person.assistance;
  if ((assistance === Assistance.DIBAO || assistance === Assistance.DIBAO_EDGE) && person.isDisabled()) {
    lines.atLeast(BATHING, YEARLY);
  }
}

export const { county, types } = exportCounty(describe, evaluate);
