"""Write a county's basic elderly-care service list (基本养老服务清单) as a
Qingdan plugin, in Python.

The Python SDK mirrors the Rust SDK (``plugins/sdk``): a plugin says, for one
person, which entitlement lines the county gives. It starts from the city's
baseline lines for that person and may raise them or add items; the host
proves over every possible person that nobody gets less than the baseline.

A plugin module defines ``describe()`` and ``evaluate(person, lines)`` and
exports them::

    import qingdan
    from qingdan import Benefit, Category, Description, Extra, Item

    ASSESSMENT = Item(1, "ability-assessment")

    def describe():
        return Description("330282", "慈溪市", "330200").baseline(ASSESSMENT)

    def evaluate(person, lines):
        lines.at_least(ASSESSMENT, Benefit.quota(1, 12 if person.age >= 80 else 24))

    County = qingdan.county(describe, evaluate)

``componentize-py`` builds the module into a component for the WIT world
``county-list`` (``qingdan:county@0.2.0``); the class ``County`` is its
export. Natively (``python -m unittest``) the module imports as usual and
``evaluate`` can be called directly.

Values are plain Python: enumerations are small integers in the order of the
WIT (so ``person.assistance >= Assistance.DIBAO_EDGE`` works), a benefit is a
tuple ``(kind, a, b, c)`` made by the ``Benefit`` constructors, money is
integer fen.

The batch loop (``evaluate-batch``, which the floor proof calls for all
1,171,200 persons of the domain, twice) is the hot path. An interpreter pays
for every operation, so the SDK evaluates each *distinct situation* once per
batch: while ``evaluate`` runs, the person records which of their fields it
reads, and the SDK keeps, per baseline, a decision tree over those fields.
The next person who agrees on every field read (and has the same baseline
lines) gets the same answer without running ``evaluate`` again. This is
exact for rules that depend only on the person and the lines, which is what
the host requires of every plugin (it proves the answer table twice, in
different orders and batch sizes, and refuses a component whose answers
differ).
"""

HOST_CODES_FROM = 32768
"""Item codes from this value up are the host's: baseline items the plugin
did not name arrive under them and pass through unchanged."""

DOMAIN_SIZE = 1_171_200
"""Persons in the domain: every combination of the person's fields."""

_U64_MAX = (1 << 64) - 1


class Hukou:
    """户籍: registered in the county, or a long-term resident registered elsewhere."""

    LOCAL = 0
    NON_LOCAL = 1


class Ability:
    """GB/T 42195-2022 ability level, ordered; ``UNASSESSED`` is below all."""

    UNASSESSED = 0
    INTACT = 1
    MILD = 2
    MODERATE = 3
    SEVERE = 4
    COMPLETE = 5


class Assistance:
    """The strongest economic-assistance status (低收入 < 低保边缘 < 低保 < 特困)."""

    NONE = 0
    LOW_INCOME = 1
    DIBAO_EDGE = 2
    DIBAO = 3
    TEKUN = 4


class Disability:
    """Grade on the disability certificate; ``GRADE1`` is the most severe."""

    NONE = 0
    GRADE4 = 1
    GRADE3 = 2
    GRADE2 = 3
    GRADE1 = 4


class Living:
    """Living-situation flags (独居, 空巢, 留守, 孤寡), combined with ``|``."""

    NONE = 0
    ALONE = 1
    EMPTY_NEST = 2
    LEFT_BEHIND = 4
    CHILDLESS_WIDOWED = 8


class Category:
    """The three categories of the national list."""

    MATERIAL_ASSISTANCE = 0
    CARE_SERVICE = 1
    CARING_SERVICE = 2


# The person's fields as digits of the domain index (most significant
# first): (name, stride, radix). The index is documented on `batch` in the
# WIT.
_DIGITS = (
    ("age", 19200, 61),
    ("hukou", 9600, 2),
    ("ability", 1600, 6),
    ("assistance", 320, 5),
    ("disability", 64, 5),
    ("living", 4, 16),
    ("family_planning_special", 2, 2),
    ("veteran_entitled", 1, 2),
)


def _digit(number, stride, radix, to_value):
    """A read-only property decoding one digit of the index, and recording
    the read while the SDK traces an evaluation."""

    def get(self):
        digit = self.index // stride % radix
        seen = self._seen
        if seen is not None and number not in seen:
            seen[number] = digit
        return to_value(digit)

    return property(get)


def _same(digit):
    return digit


def _age(digit):
    return digit + 60


def _flag(digit):
    return digit == 1


class Person:
    """A person as a county plugin sees them: no name, no identity number.

    Every field has a finite domain, so a person *is* their index in the
    domain (``Person.from_index``); the fields are read from it.
    ``Person(age=70, assistance=Assistance.DIBAO)`` makes one for a test
    (fields left out take their first value).
    """

    __slots__ = ("index", "_seen")

    age = _digit(0, 19200, 61, _age)
    """Completed years, 60..=120 (120 means 120 or older)."""
    hukou = _digit(1, 9600, 2, _same)
    ability = _digit(2, 1600, 6, _same)
    assistance = _digit(3, 320, 5, _same)
    disability = _digit(4, 64, 5, _same)
    living = _digit(5, 4, 16, _same)
    """The ``Living`` flags, as bits."""
    family_planning_special = _digit(6, 2, 2, _flag)
    """计划生育特殊家庭."""
    veteran_entitled = _digit(7, 1, 2, _flag)
    """优抚对象."""

    def __init__(
        self,
        age=60,
        hukou=Hukou.LOCAL,
        ability=Ability.UNASSESSED,
        assistance=Assistance.NONE,
        disability=Disability.NONE,
        living=Living.NONE,
        family_planning_special=False,
        veteran_entitled=False,
    ):
        values = (
            age - 60,
            hukou,
            ability,
            assistance,
            disability,
            living,
            int(bool(family_planning_special)),
            int(bool(veteran_entitled)),
        )
        index = 0
        for (name, stride, radix), value in zip(_DIGITS, values):
            if not isinstance(value, int) or not 0 <= value < radix:
                raise ValueError(f"person field {name} is out of range: {value!r}")
            index += value * stride
        self.index = index
        self._seen = None

    @classmethod
    def from_index(cls, index, seen=None):
        """The person with this domain index (0 <= index < DOMAIN_SIZE)."""
        if not isinstance(index, int) or not 0 <= index < DOMAIN_SIZE:
            raise ValueError(f"person index {index} is not in the domain")
        person = cls.__new__(cls)
        person.index = index
        person._seen = seen
        return person

    @classmethod
    def aged(cls, age):
        """A local person of this age with every other field at its first value."""
        return cls(age=age)

    def replace(self, **fields):
        """A copy with some fields changed."""
        values = {name: getattr(self, name) for name, _, _ in _DIGITS}
        values.update(fields)
        return Person(**values)

    def is_economically_difficult(self):
        """Any assistance status (低收入 or above)."""
        return self.assistance != Assistance.NONE

    def is_dibao_or_tekun(self):
        """低保 or 特困."""
        return self.assistance >= Assistance.DIBAO

    def ability_at_least(self, level):
        """Assessed at ``level`` or worse (an unassessed person never is)."""
        ability = self.ability
        return ability != Ability.UNASSESSED and ability >= level

    def is_disabled(self):
        """失能: moderate, severe or complete loss of ability."""
        return self.ability_at_least(Ability.MODERATE)

    def has_severe_disability(self):
        """重度残疾: certificate grade 1 or 2."""
        return self.disability >= Disability.GRADE2

    def age_in(self, low, high):
        """``low <= age <= high``."""
        return low <= self.age <= high

    def __eq__(self, other):
        return isinstance(other, Person) and other.index == self.index

    def __hash__(self):
        return hash(self.index)

    def __repr__(self):
        fields = ", ".join(f"{name}={getattr(self, name)!r}" for name, _, _ in _DIGITS)
        return f"Person({fields})"


class Benefit:
    """Constructors of benefits. A benefit is a tuple ``(kind, a, b, c)``:
    ``(MONTHLY_CASH, fen, 0, 0)``, ``(QUOTA, count, months, 0)``,
    ``(ONE_OFF, fixed fen, percent, cap fen)``, ``(VOUCHER, percent, monthly
    cap fen, 0)`` or ``(RIGHT, 0, 0, 0)``. Tuples compare and hash by value."""

    MONTHLY_CASH = 0
    QUOTA = 1
    ONE_OFF = 2
    VOUCHER = 3
    RIGHT = 4

    @staticmethod
    def cash_fen(fen):
        """Monthly cash, in fen."""
        return (0, min(fen, _U64_MAX), 0, 0)

    @staticmethod
    def cash_yuan(yuan):
        """Monthly cash, in yuan."""
        return (0, min(yuan * 100, _U64_MAX), 0, 0)

    @staticmethod
    def quota(count, months):
        """A service ``count`` times every ``months`` months."""
        return (1, count, months, 0)

    @staticmethod
    def one_off(fixed_fen, percent, cap_fen):
        """A one-off grant: fixed fen plus ``percent`` of the cost up to ``cap_fen``."""
        return (2, fixed_fen, percent, cap_fen)

    @staticmethod
    def one_off_yuan(yuan):
        """A fixed one-off grant, in yuan."""
        return (2, min(yuan * 100, _U64_MAX), 0, 0)

    @staticmethod
    def one_off_share(percent, cap_yuan):
        """``percent`` of the cost, up to ``cap_yuan`` yuan, once."""
        return (2, 0, percent, min(cap_yuan * 100, _U64_MAX))

    @staticmethod
    def voucher(percent, cap_yuan):
        """A voucher paying ``percent`` of spending, up to ``cap_yuan`` yuan a month."""
        return (3, percent, min(cap_yuan * 100, _U64_MAX), 0)

    @staticmethod
    def right():
        """A right, such as priority admission to a public care home."""
        return (4, 0, 0, 0)

    @staticmethod
    def covers(a, b):
        """Whether ``a`` is at least as generous as ``b`` (the host's order)."""
        kind = a[0]
        if kind != b[0]:
            return False
        if kind == 0:
            return a[1] >= b[1]
        if kind == 1:
            return a[2] != 0 and a[1] * b[2] >= b[1] * a[2]
        if kind == 2:
            return a[1] >= b[1] and a[2] >= b[2] and a[3] >= b[3]
        if kind == 3:
            return a[1] >= b[1] and a[2] >= b[2]
        return True

    @staticmethod
    def join(a, b):
        """The least benefit covering both, or None for different kinds."""
        kind = a[0]
        if kind != b[0]:
            return None
        if kind == 1:
            return a if Benefit.covers(a, b) else b
        return (kind, max(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3]))


class Item:
    """A baseline item the plugin reads or raises, by its catalogue key."""

    __slots__ = ("code", "key")

    def __init__(self, code, key):
        _check_code(code)
        self.code = code
        self.key = key


class Extra:
    """An item the county adds beyond the baseline."""

    __slots__ = ("code", "key", "name", "category", "legal_basis")

    def __init__(self, code, key, name, category, legal_basis):
        _check_code(code)
        self.code = code
        self.key = key
        self.name = name
        self.category = category
        self.legal_basis = legal_basis


def _check_code(code):
    if not isinstance(code, int) or not 0 <= code < HOST_CODES_FROM:
        raise ValueError(f"item code {code!r} must be below {HOST_CODES_FROM}")


def _code(item):
    return item if isinstance(item, int) else item.code


class Description:
    """Who the plugin is and which items it names."""

    def __init__(self, county_code, county_name, baseline_code):
        self.county_code = county_code
        self.county_name = county_name
        self.baseline_code = baseline_code
        self.baseline_items = []
        self.extra_items = []

    def baseline(self, item):
        """Names a baseline item (an ``Item``)."""
        self.baseline_items.append(item)
        return self

    def extra(self, item):
        """Declares an extra item (an ``Extra``)."""
        self.extra_items.append(item)
        return self


class Lines:
    """The person's lines: ``(code, benefit)`` pairs, changed in place.

    On entry they are the baseline lines, under the codes of the items the
    description names or host codes (from 32768) for the others.
    """

    __slots__ = ("_lines",)

    def __init__(self, lines=()):
        self._lines = list(lines)

    def _position(self, code):
        for i, line in enumerate(self._lines):
            if line[0] == code:
                return i
        return -1

    def get(self, item):
        """The benefit of ``item`` (an Item, Extra or code), or None."""
        code = _code(item)
        for line in self._lines:
            if line[0] == code:
                return line[1]
        return None

    def has(self, item):
        """Whether there is a line for ``item``."""
        return self.get(item) is not None

    def cash_fen(self, item):
        """The monthly cash of ``item`` in fen, or None."""
        benefit = self.get(item)
        return benefit[1] if benefit is not None and benefit[0] == 0 else None

    def set(self, item, benefit):
        """Sets the line of ``item`` (this can lower a baseline line)."""
        code = _code(item)
        i = self._position(code)
        if i < 0:
            self._lines.append((code, benefit))
        else:
            self._lines[i] = (code, benefit)

    def add(self, item, benefit):
        """Adds (or sets) the line of an extra item."""
        self.set(item, benefit)

    def at_least(self, item, benefit):
        """Raises ``item`` to at least ``benefit``; a more generous line stays."""
        code = _code(item)
        i = self._position(code)
        if i < 0:
            self._lines.append((code, benefit))
        else:
            joined = Benefit.join(self._lines[i][1], benefit)
            self._lines[i] = (code, benefit if joined is None else joined)

    def plus_cash_fen(self, item, fen):
        """Adds ``fen`` to the monthly cash of ``item`` (a line of another kind stays)."""
        code = _code(item)
        i = self._position(code)
        if i < 0:
            self._lines.append((code, Benefit.cash_fen(fen)))
        elif self._lines[i][1][0] == 0:
            self._lines[i] = (code, Benefit.cash_fen(self._lines[i][1][1] + fen))

    def plus_cash_yuan(self, item, yuan):
        """Adds ``yuan`` to the monthly cash of ``item``."""
        self.plus_cash_fen(item, yuan * 100)

    def remove(self, item):
        """Removes the line of ``item``; returns its benefit or None."""
        i = self._position(_code(item))
        return None if i < 0 else self._lines.pop(i)[1]

    def host_lines(self):
        """The lines under host codes (items the description does not name)."""
        return [line for line in self._lines if line[0] >= HOST_CODES_FROM]

    def as_list(self):
        """The lines, as a list of ``(code, benefit)``."""
        return list(self._lines)

    def __iter__(self):
        return iter(self._lines)

    def __len__(self):
        return len(self._lines)

    def __eq__(self, other):
        return isinstance(other, Lines) and other._lines == self._lines

    def __repr__(self):
        return f"Lines({self._lines!r})"


# Records: the JSON shapes of the host (`qingdan eval --json`, the answer
# files of the examples' tests), for tests.

_HUKOU = ("local", "non-local")
_ABILITY = ("unassessed", "intact", "mild", "moderate", "severe", "complete")
_ASSISTANCE = ("none", "low-income", "dibao-edge", "dibao", "tekun")
_DISABILITY = ("none", "grade4", "grade3", "grade2", "grade1")
_LIVING = ("alone", "empty-nest", "left-behind", "childless-widowed")
_KINDS = ("monthly-cash", "quota", "one-off", "voucher", "right")
_FIELDS_OF_KIND = ((), ("count", "months"), ("fixed", "percent", "cap"), ("percent", "monthly_cap"), ())
_FIRST_OF_KIND = ("fen",)


def person_from_record(record):
    """A ``Person`` from the host's JSON record of a person."""
    living = 0
    for flag in record.get("living", []):
        living |= 1 << _LIVING.index(flag)
    return Person(
        age=record["age"],
        hukou=_HUKOU.index(record["hukou"]),
        ability=_ABILITY.index(record["ability"]),
        assistance=_ASSISTANCE.index(record["assistance"]),
        disability=_DISABILITY.index(record["disability"]),
        living=living,
        family_planning_special=record.get("family_planning_special", False),
        veteran_entitled=record.get("veteran_entitled", False),
    )


def benefit_from_record(record):
    """A benefit from the host's JSON record of one (``{"kind": "quota", ...}``)."""
    kind = _KINDS.index(record["kind"])
    names = _FIRST_OF_KIND if kind == 0 else _FIELDS_OF_KIND[kind]
    values = [record.get(name, 0) for name in names]
    return (kind, *values, *[0] * (3 - len(values)))


def benefit_record(benefit):
    """The host's JSON record of a benefit."""
    kind = benefit[0]
    names = _FIRST_OF_KIND if kind == 0 else _FIELDS_OF_KIND[kind]
    record = {"kind": _KINDS[kind]}
    record.update(zip(names, benefit[1:]))
    return record


def lines_from_records(records):
    """``Lines`` from the host's JSON lines (``[{"item": 1, "benefit": {...}}]``)."""
    return Lines((r["item"], benefit_from_record(r["benefit"])) for r in records)


def line_records(lines):
    """The host's JSON records of ``lines``."""
    return [{"item": code, "benefit": benefit_record(b)} for code, b in lines]


# The component side: the exports of `qingdan:county@0.2.0`.


def county(describe, evaluate):
    """The class ``County`` that componentize-py exports: ``describe`` and
    ``evaluate-batch`` of the plugin's two functions. Assign it to the
    module-level name ``County``."""

    class County:
        def describe(self):
            return _wit_description(describe())

        def evaluate_batch(self, work):
            return _evaluate_batch(evaluate, work)

    return County


def _types():
    from wit_world.exports import types  # generated by componentize-py

    return types


def _wit_description(d):
    t = _types()
    categories = (t.Category.MATERIAL_ASSISTANCE, t.Category.CARE_SERVICE, t.Category.CARING_SERVICE)
    return t.Description(
        county_code=d.county_code,
        county_name=d.county_name,
        baseline=d.baseline_code,
        baseline_items=[t.BaselineItem(code=i.code, key=i.key) for i in d.baseline_items],
        extra_items=[
            t.ExtraItem(
                code=e.code,
                key=e.key,
                name=e.name,
                category=categories[e.category],
                legal_basis=e.legal_basis,
            )
            for e in d.extra_items
        ],
    )


def _from_wit(t, line):
    b = line.benefit
    if isinstance(b, t.Benefit_MonthlyCash):
        benefit = (0, b.value, 0, 0)
    elif isinstance(b, t.Benefit_Quota):
        benefit = (1, b.value.count, b.value.months, 0)
    elif isinstance(b, t.Benefit_OneOff):
        benefit = (2, b.value.fixed, b.value.percent, b.value.cap)
    elif isinstance(b, t.Benefit_Voucher):
        benefit = (3, b.value.percent, b.value.monthly_cap, 0)
    else:
        benefit = (4, 0, 0, 0)
    return (line.item, benefit)


def _to_wit(t, line):
    code, (kind, a, b, c) = line
    if kind == 0:
        benefit = t.Benefit_MonthlyCash(a)
    elif kind == 1:
        benefit = t.Benefit_Quota(t.Quota(count=a, months=b))
    elif kind == 2:
        benefit = t.Benefit_OneOff(t.OneOff(fixed=a, percent=b, cap=c))
    elif kind == 3:
        benefit = t.Benefit_Voucher(t.Voucher(percent=a, monthly_cap=b))
    else:
        benefit = t.Benefit_Right()
    return t.Line(item=code, benefit=benefit)


def _evaluate_batch(evaluate, work):
    """`evaluate-batch`: every person's answer, interned, through one
    decision tree per baseline (see the module documentation).

    A tree node is a list ``[stride, radix, branches]``: the digit of the
    index it looks at, and the subtree for each value seen. A leaf is the
    number of an answer (an ``int``) or the reason the evaluation failed (a
    ``str``).
    """
    t = _types()
    baselines = [tuple(_from_wit(t, line) for line in lines) for lines in work.baselines]
    trees = {}
    answers = []
    numbers = {}
    outcomes = []
    errors = []
    append = outcomes.append
    for i, (index, base) in enumerate(zip(work.persons, work.baseline_of)):
        # (An index past the domain would wrap around in the tree: it goes
        # to `_evaluate_one`, which refuses it.)
        node = trees.get(base) if index < DOMAIN_SIZE else None
        while node.__class__ is list:
            node = node[2].get(index // node[0] % node[1])
        if node is None:
            node = _evaluate_one(evaluate, index, base, baselines, trees, answers, numbers)
        if node.__class__ is int:
            append(node)
        else:
            errors.append((i, node))
            append(0)
    for i in range(len(work.baseline_of), len(work.persons)):
        errors.append((i, "the person has no baseline index"))
        append(0)
    return t.BatchAnswers(
        answers=[[_to_wit(t, line) for line in answer] for answer in answers],
        outcomes=outcomes,
        errors=errors,
    )


def _evaluate_one(evaluate, index, base, baselines, trees, answers, numbers):
    """Evaluates one person whom the tree does not answer yet, adds the
    answer to the tree and returns the leaf."""
    if not 0 <= index < DOMAIN_SIZE:
        return f"person index {index} is not in the domain"
    if not 0 <= base < len(baselines):
        return f"baseline index {base} is out of range"
    seen = {}
    lines = Lines(baselines[base])
    try:
        evaluate(Person.from_index(index, seen), lines)
        answer = tuple(lines._lines)
        leaf = numbers.get(answer)
        if leaf is None:
            leaf = numbers[answer] = len(answers)
            answers.append(answer)
    except Exception as e:  # the person gets the baseline; the team sees why
        leaf = f"{type(e).__name__}: {e}"[:1000]
    _insert(trees, base, seen, leaf)
    return leaf


def _insert(trees, base, seen, leaf):
    """Adds the path of the fields read (in the order first read) to the
    tree of ``base``. A path that disagrees with the tree (rules that read
    different fields for the same values) is not kept."""
    parent, key = trees, base
    node = trees.get(base)
    for number, digit in seen.items():
        _, stride, radix = _DIGITS[number]
        if node is None:
            node = parent[key] = [stride, radix, {}]
        elif node.__class__ is not list or node[0] != stride:
            return
        parent, key = node[2], digit
        node = parent.get(digit)
    if node is None:
        parent[key] = leaf
