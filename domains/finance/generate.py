#!/usr/bin/env python3
"""Generate the finance domain pack (train.jsonl / eval.jsonl) deterministically.

Standalone: stdlib only.  Usage: python generate.py [--seed 0] [--out DIR]

Every numeric record carries a gold Python `program`; its `answer` is obtained by
executing that program (never typed in).  Company names in headlines are fictional.
Running twice with the same seed gives byte-identical files.
"""
import argparse
import json
import os
import random

HERE = os.path.dirname(os.path.abspath(__file__))
PREFIX = "fin"
TRAIN_PER_LANG = 80   # per task and language
EVAL_PER_LANG = 12

# --------------------------------------------------------------------------- helpers


def run_program(src):
    g = {}
    exec(src, g)  # noqa: S102 - our own generated programs
    return g["answer"]


def numeric(lang, instruction, program, explain):
    ans = run_program(program)
    s = str(ans)
    tail = f" The answer is {s}." if lang == "en" else f"答案是{s}。"
    return {"kind": "numeric", "instruction": instruction, "input": "",
            "output": explain.replace("{ans}", s) + tail, "answer": ans, "program": program}


LETTERS = "ABCDEFGH"


def mc(lang, rng, question, correct, distractors):
    opts = [correct] + list(distractors)
    assert len(set(opts)) == len(opts)
    rng.shuffle(opts)
    letter = LETTERS[opts.index(correct)]
    lines = "\n".join(f"{LETTERS[i]}. {o}" for i, o in enumerate(opts))
    if lang == "en":
        instr, out = f"{question}\n{lines}\nAnswer with the letter of the correct option.", f"{letter}. {correct}"
    else:
        instr, out = f"{question}\n{lines}\n请给出正确选项的字母。", f"答案：{letter}. {correct}"
    return {"kind": "mc", "instruction": instr, "input": "", "output": out, "answer": letter, "choices": opts}


def m(x):
    """Money-ish number literal for programs and prompts (2 decimals max, no trailing zeros beyond .0)."""
    return repr(round(float(x), 2))


# --------------------------------------------------------------------------- numeric tasks


def t_percent_change(rng, lang):
    old = round(rng.uniform(20, 900), 1)
    new = round(old * rng.uniform(0.5, 1.8), 1)
    if new == old:
        new = round(old + 1.0, 1)
    prog = f"old = {m(old)}\nnew = {m(new)}\nanswer = round((new - old) / old * 100, 2)"
    if lang == "en":
        what = rng.choice(["Revenue", "Net income", "Operating profit", "The share price", "Total assets", "Quarterly sales"])
        unit = "" if what == "The share price" else "M"
        verb = "rose" if new > old else "fell"
        q = f"{what} {verb} from ${m(old)}{unit} to ${m(new)}{unit}. What is the percent change?"
        ex = f"Percent change = ({m(new)} - {m(old)}) / {m(old)} × 100 = {{ans}}%."
    else:
        what = rng.choice(["营业收入", "净利润", "营业利润", "总资产", "季度销售额"])
        verb = "增长到" if new > old else "下降到"
        q = f"某公司{what}从{m(old)}亿元{verb}{m(new)}亿元，变化百分比是多少？"
        ex = f"变化百分比 = ({m(new)} - {m(old)}) / {m(old)} × 100 = {{ans}}%。"
    return numeric(lang, q, prog, ex)


def t_cagr(rng, lang):
    begin = round(rng.uniform(10, 500), 1)
    years = rng.randint(2, 10)
    end = round(begin * rng.uniform(0.7, 3.0), 1)
    prog = (f"begin = {m(begin)}\nend = {m(end)}\nyears = {years}\n"
            "answer = round(((end / begin) ** (1 / years) - 1) * 100, 2)")
    if lang == "en":
        what = rng.choice(["revenue", "an investment portfolio", "net sales", "assets under management"])
        q = (f"The value of {what} grew from ${m(begin)}M to ${m(end)}M over {years} years. "
             "What is the compound annual growth rate (CAGR) in percent?")
        ex = f"CAGR = (({m(end)} / {m(begin)})^(1/{years}) - 1) × 100 = {{ans}}%."
    else:
        what = rng.choice(["营业收入", "投资组合价值", "资产管理规模", "净销售额"])
        q = f"某公司{what}在{years}年内从{m(begin)}亿元变为{m(end)}亿元，年复合增长率（CAGR）是多少（百分比）？"
        ex = f"CAGR = (({m(end)} / {m(begin)})^(1/{years}) - 1) × 100 = {{ans}}%。"
    return numeric(lang, q, prog, ex)


def t_simple_interest(rng, lang):
    p = rng.randrange(1000, 200001, 500)
    r = rng.choice([1.5, 2.0, 2.5, 2.75, 3.0, 3.25, 3.5, 4.0, 4.5, 5.0, 6.0, 7.5, 8.0])
    t = rng.randint(1, 10)
    total = rng.random() < 0.4
    prog = f"principal = {p}\nrate = {r}\nyears = {t}\ninterest = principal * rate / 100 * years\n"
    prog += "answer = round(principal + interest, 2)" if total else "answer = round(interest, 2)"
    if lang == "en":
        ask = "total amount (principal plus interest)" if total else "simple interest earned"
        q = f"A deposit of ${p} earns simple interest at {r}% per year for {t} years. What is the {ask} in dollars?"
        ex = f"Interest = {p} × {r}% × {t}" + (f"; total = {p} + interest = {{ans}}." if total else " = {ans}.")
    else:
        ask = "本息合计" if total else "利息"
        q = f"本金{p}元，按年利率{r}%计算单利，存期{t}年，{ask}是多少元？"
        ex = f"利息 = {p} × {r}% × {t}" + (f"；本息合计 = {p} + 利息 = {{ans}}。" if total else " = {ans}。")
    return numeric(lang, q, prog, ex)


def t_compound_interest(rng, lang):
    p = rng.randrange(1000, 100001, 500)
    r = rng.choice([2.0, 3.0, 3.5, 4.0, 4.5, 5.0, 6.0, 7.0, 8.0, 10.0])
    t = rng.randint(1, 15)
    n, en_f, zh_f = rng.choice([(1, "annually", "按年"), (2, "semi-annually", "按半年"),
                                (4, "quarterly", "按季度"), (12, "monthly", "按月")])
    interest_only = rng.random() < 0.4
    prog = (f"principal = {p}\nrate = {r}\nyears = {t}\nn = {n}\n"
            "amount = principal * (1 + rate / 100 / n) ** (n * years)\n")
    prog += "answer = round(amount - principal, 2)" if interest_only else "answer = round(amount, 2)"
    if lang == "en":
        ask = "compound interest earned" if interest_only else "final amount"
        q = f"${p} is invested at {r}% annual interest compounded {en_f} for {t} years. What is the {ask} in dollars?"
        ex = f"Amount = {p} × (1 + {r}%/{n})^({n}×{t})" + ("; interest = amount - principal = {ans}." if interest_only else " = {ans}.")
    else:
        ask = "复利利息" if interest_only else "期末本息和"
        q = f"将{p}元以年利率{r}%投资{t}年，{zh_f}复利计息，{ask}是多少元？"
        ex = f"本息和 = {p} × (1 + {r}%/{n})^({n}×{t})" + ("；利息 = 本息和 - 本金 = {ans}。" if interest_only else " = {ans}。")
    return numeric(lang, q, prog, ex)


def t_loan_payment(rng, lang):
    p = rng.randrange(5000, 1000001, 1000)
    r = rng.choice([3.0, 3.5, 3.85, 4.0, 4.2, 4.5, 4.9, 5.5, 6.0, 6.5, 7.0, 8.5])
    years = rng.choice([1, 2, 3, 5, 10, 15, 20, 25, 30])
    prog = (f"principal = {p}\nannual_rate = {r}\nyears = {years}\n"
            "r = annual_rate / 100 / 12\nn = years * 12\n"
            "answer = round(principal * r * (1 + r) ** n / ((1 + r) ** n - 1), 2)")
    if lang == "en":
        what = rng.choice(["mortgage", "car loan", "business loan", "personal loan"])
        q = (f"A {what} of ${p} has an annual interest rate of {r}% and a term of {years} years, repaid in equal "
             "monthly instalments. What is the monthly payment in dollars?")
        ex = f"With r = {r}%/12 and n = {years * 12}, payment = P·r(1+r)^n / ((1+r)^n - 1) = {{ans}}."
    else:
        what = rng.choice(["住房贷款", "汽车贷款", "经营贷款", "个人消费贷款"])
        q = f"一笔{p}元的{what}，年利率{r}%，期限{years}年，按等额本息方式按月还款，每月还款额是多少元？"
        ex = f"月利率 r = {r}%/12，期数 n = {years * 12}，月供 = P·r(1+r)^n / ((1+r)^n - 1) = {{ans}}。"
    return numeric(lang, q, prog, ex)


def _flows(rng, k):
    return [rng.randrange(1000, 60001, 500) for _ in range(k)]


def t_npv(rng, lang):
    k = rng.randint(3, 5)
    outlay = rng.randrange(10000, 150001, 1000)
    flows = _flows(rng, k)
    rate = rng.choice([5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 12.0, 15.0])
    prog = (f"rate = {rate}\ninitial = {outlay}\ncash_flows = {flows}\n"
            "pv = sum(cf / (1 + rate / 100) ** (t + 1) for t, cf in enumerate(cash_flows))\n"
            "answer = round(pv - initial, 2)")
    fl = ", ".join(str(f) for f in flows)
    if lang == "en":
        q = (f"A project costs ${outlay} today and returns ${fl} at the end of years 1 to {k}. "
             f"At a discount rate of {rate}%, what is the net present value (NPV) in dollars?")
        ex = f"NPV = Σ CF_t / (1 + {rate}%)^t - {outlay} = {{ans}}."
    else:
        q = (f"某项目期初投资{outlay}元，第1至第{k}年末分别产生现金流{fl}元。"
             f"折现率为{rate}%，该项目的净现值（NPV）是多少元？")
        ex = f"NPV = Σ CF_t / (1 + {rate}%)^t - {outlay} = {{ans}}。"
    return numeric(lang, q, prog, ex)


def t_irr(rng, lang):
    while True:
        k = rng.randint(2, 5)
        outlay = rng.randrange(5000, 100001, 1000)
        flows = _flows(rng, k)
        tot = sum(flows)
        # conventional flows with a root strictly inside the bisection bracket (-99%, 100%)
        if outlay * 1.02 < tot < outlay * 3.0 and sum(f / 2 ** (t + 1) for t, f in enumerate(flows)) < outlay * 0.98:
            break
    cfs = [-outlay] + flows
    prog = (f"cash_flows = {cfs}\n"
            "def npv(rate):\n"
            "    return sum(cf / (1 + rate) ** t for t, cf in enumerate(cash_flows))\n"
            "lo, hi = -0.99, 1.0\n"
            "for _ in range(200):\n"
            "    mid = (lo + hi) / 2\n"
            "    if npv(mid) > 0:\n"
            "        lo = mid\n"
            "    else:\n"
            "        hi = mid\n"
            "answer = round((lo + hi) / 2 * 100, 2)")
    fl = ", ".join(str(f) for f in flows)
    if lang == "en":
        q = (f"An investment of ${outlay} produces cash flows of ${fl} at the end of years 1 to {k}. "
             "What is its internal rate of return (IRR) in percent?")
        ex = "The IRR is the rate r at which Σ CF_t / (1 + r)^t = 0; solving by bisection gives r = {ans}%."
    else:
        q = f"一项投资期初支出{outlay}元，第1至第{k}年末分别收回现金{fl}元，其内部收益率（IRR）是多少（百分比）？"
        ex = "IRR 是使 Σ CF_t / (1 + r)^t = 0 的折现率 r，用二分法求得 r = {ans}%。"
    return numeric(lang, q, prog, ex)


def t_profit_margin(rng, lang):
    rev = round(rng.uniform(50, 5000), 1)
    kind = rng.choice(["gross", "net", "operating"])
    if kind == "gross":
        cost = round(rev * rng.uniform(0.3, 0.9), 1)
        prog = f"revenue = {m(rev)}\ncogs = {m(cost)}\nanswer = round((revenue - cogs) / revenue * 100, 2)"
        if lang == "en":
            q = f"A company has revenue of ${m(rev)}M and cost of goods sold of ${m(cost)}M. What is its gross margin in percent?"
            ex = f"Gross margin = ({m(rev)} - {m(cost)}) / {m(rev)} × 100 = {{ans}}%."
        else:
            q = f"某公司营业收入{m(rev)}万元，营业成本{m(cost)}万元，毛利率是多少（百分比）？"
            ex = f"毛利率 = ({m(rev)} - {m(cost)}) / {m(rev)} × 100 = {{ans}}%。"
    else:
        prof = round(rev * rng.uniform(0.02, 0.35), 1)
        prog = f"revenue = {m(rev)}\nprofit = {m(prof)}\nanswer = round(profit / revenue * 100, 2)"
        en_n, zh_n = ("net income", "净利润") if kind == "net" else ("operating income", "营业利润")
        en_m, zh_m = ("net margin", "净利率") if kind == "net" else ("operating margin", "营业利润率")
        if lang == "en":
            q = f"A company reports revenue of ${m(rev)}M and {en_n} of ${m(prof)}M. What is its {en_m} in percent?"
            ex = f"{en_m.capitalize()} = {m(prof)} / {m(rev)} × 100 = {{ans}}%."
        else:
            q = f"某公司营业收入{m(rev)}万元，{zh_n}{m(prof)}万元，{zh_m}是多少（百分比）？"
            ex = f"{zh_m} = {m(prof)} / {m(rev)} × 100 = {{ans}}%。"
    return numeric(lang, q, prog, ex)


def t_financial_ratio(rng, lang):
    kind = rng.choice(["pe", "current", "de", "roe", "eps", "dividend_yield", "pb"])
    if kind == "pe":
        price, eps = round(rng.uniform(5, 300), 2), round(rng.uniform(0.2, 15), 2)
        prog = f"price = {m(price)}\neps = {m(eps)}\nanswer = round(price / eps, 2)"
        en = (f"A stock trades at ${m(price)} and its earnings per share are ${m(eps)}. What is its P/E ratio?",
              f"P/E = {m(price)} / {m(eps)} = {{ans}}.")
        zh = (f"某股票股价为{m(price)}元，每股收益为{m(eps)}元，其市盈率是多少倍？",
              f"市盈率 = {m(price)} / {m(eps)} = {{ans}}。")
    elif kind == "pb":
        price, bv = round(rng.uniform(3, 200), 2), round(rng.uniform(1, 80), 2)
        prog = f"price = {m(price)}\nbook_value_per_share = {m(bv)}\nanswer = round(price / book_value_per_share, 2)"
        en = (f"A share price is ${m(price)} and book value per share is ${m(bv)}. What is the price-to-book (P/B) ratio?",
              f"P/B = {m(price)} / {m(bv)} = {{ans}}.")
        zh = (f"某股票股价为{m(price)}元，每股净资产为{m(bv)}元，其市净率是多少倍？",
              f"市净率 = {m(price)} / {m(bv)} = {{ans}}。")
    elif kind == "current":
        ca, cl = round(rng.uniform(10, 900), 1), round(rng.uniform(10, 600), 1)
        prog = f"current_assets = {m(ca)}\ncurrent_liabilities = {m(cl)}\nanswer = round(current_assets / current_liabilities, 2)"
        en = (f"A firm has current assets of ${m(ca)}M and current liabilities of ${m(cl)}M. What is its current ratio?",
              f"Current ratio = {m(ca)} / {m(cl)} = {{ans}}.")
        zh = (f"某企业流动资产{m(ca)}万元，流动负债{m(cl)}万元，流动比率是多少？",
              f"流动比率 = {m(ca)} / {m(cl)} = {{ans}}。")
    elif kind == "de":
        debt, eq = round(rng.uniform(10, 900), 1), round(rng.uniform(20, 900), 1)
        prog = f"total_liabilities = {m(debt)}\nequity = {m(eq)}\nanswer = round(total_liabilities / equity, 2)"
        en = (f"A company has total liabilities of ${m(debt)}M and shareholders' equity of ${m(eq)}M. What is its debt-to-equity ratio?",
              f"Debt-to-equity = {m(debt)} / {m(eq)} = {{ans}}.")
        zh = (f"某公司负债总额{m(debt)}万元，股东权益{m(eq)}万元，产权比率（负债/权益）是多少？",
              f"产权比率 = {m(debt)} / {m(eq)} = {{ans}}。")
    elif kind == "roe":
        ni, eq = round(rng.uniform(1, 200), 1), round(rng.uniform(50, 2000), 1)
        prog = f"net_income = {m(ni)}\nequity = {m(eq)}\nanswer = round(net_income / equity * 100, 2)"
        en = (f"Net income is ${m(ni)}M and average shareholders' equity is ${m(eq)}M. What is the return on equity (ROE) in percent?",
              f"ROE = {m(ni)} / {m(eq)} × 100 = {{ans}}%.")
        zh = (f"某公司净利润{m(ni)}万元，平均净资产{m(eq)}万元，净资产收益率（ROE）是多少（百分比）？",
              f"ROE = {m(ni)} / {m(eq)} × 100 = {{ans}}%。")
    elif kind == "eps":
        ni, sh = round(rng.uniform(1, 900), 1), round(rng.uniform(5, 500), 1)
        prog = f"net_income = {m(ni)}\nshares = {m(sh)}\nanswer = round(net_income / shares, 2)"
        en = (f"A company earned net income of ${m(ni)}M with {m(sh)}M shares outstanding. What is its earnings per share (EPS) in dollars?",
              f"EPS = {m(ni)} / {m(sh)} = {{ans}}.")
        zh = (f"某公司净利润{m(ni)}亿元，总股本{m(sh)}亿股，每股收益（EPS）是多少元？",
              f"EPS = {m(ni)} / {m(sh)} = {{ans}}。")
    else:
        div, price = round(rng.uniform(0.1, 8), 2), round(rng.uniform(5, 250), 2)
        prog = f"dividend = {m(div)}\nprice = {m(price)}\nanswer = round(dividend / price * 100, 2)"
        en = (f"A stock priced at ${m(price)} pays an annual dividend of ${m(div)} per share. What is its dividend yield in percent?",
              f"Dividend yield = {m(div)} / {m(price)} × 100 = {{ans}}%.")
        zh = (f"某股票股价{m(price)}元，每股年度分红{m(div)}元，股息率是多少（百分比）？",
              f"股息率 = {m(div)} / {m(price)} × 100 = {{ans}}%。")
    q, ex = en if lang == "en" else zh
    return numeric(lang, q, prog, ex)


CURRENCIES = [("USD", "EUR", 0.8, 1.0), ("USD", "CNY", 6.5, 7.4), ("USD", "JPY", 105.0, 160.0),
              ("EUR", "GBP", 0.8, 0.92), ("GBP", "USD", 1.15, 1.4), ("USD", "HKD", 7.75, 7.85),
              ("EUR", "CNY", 7.2, 8.2), ("AUD", "USD", 0.6, 0.78), ("USD", "CAD", 1.25, 1.45)]


def t_currency_conversion(rng, lang):
    a, b, lo, hi = rng.choice(CURRENCIES)
    rate = round(rng.uniform(lo, hi), 4)
    amt = rng.randrange(100, 100001, 50)
    reverse = rng.random() < 0.4
    if not reverse:
        prog = f"amount = {amt}\nrate = {rate}\nanswer = round(amount * rate, 2)"
        en = (f"The exchange rate is 1 {a} = {rate} {b}. How many {b} do you get for {amt} {a}?",
              f"{amt} × {rate} = {{ans}} {b}.")
        zh = (f"汇率为1 {a} = {rate} {b}，{amt} {a}可以兑换多少{b}？", f"{amt} × {rate} = {{ans}} {b}。")
    else:
        prog = f"amount = {amt}\nrate = {rate}\nanswer = round(amount / rate, 2)"
        en = (f"The exchange rate is 1 {a} = {rate} {b}. How many {a} are needed to obtain {amt} {b}?",
              f"{amt} / {rate} = {{ans}} {a}.")
        zh = (f"汇率为1 {a} = {rate} {b}，兑换{amt} {b}需要多少{a}？", f"{amt} / {rate} = {{ans}} {a}。")
    q, ex = en if lang == "en" else zh
    return numeric(lang, q, prog, ex)


def t_break_even(rng, lang):
    fixed = rng.randrange(5000, 2000001, 500)
    var = round(rng.uniform(2, 300), 2)
    price = round(var * rng.uniform(1.1, 3.0), 2)
    prog = (f"import math\nfixed_costs = {fixed}\nprice = {m(price)}\nvariable_cost = {m(var)}\n"
            "answer = math.ceil(fixed_costs / (price - variable_cost))")
    if lang == "en":
        q = (f"A product sells for ${m(price)} per unit with a variable cost of ${m(var)} per unit. Fixed costs are "
             f"${fixed}. How many units must be sold to break even (round up to a whole unit)?")
        ex = f"Break-even units = {fixed} / ({m(price)} - {m(var)}), rounded up = {{ans}}."
    else:
        q = (f"某产品单价{m(price)}元，单位变动成本{m(var)}元，固定成本{fixed}元。"
             "至少需要销售多少件才能达到盈亏平衡（向上取整）？")
        ex = f"盈亏平衡销量 = {fixed} / ({m(price)} - {m(var)})，向上取整 = {{ans}}。"
    return numeric(lang, q, prog, ex)


def t_bond_current_yield(rng, lang):
    face = rng.choice([100, 1000, 5000])
    coupon = rng.choice([1.5, 2.0, 2.5, 3.0, 3.25, 3.5, 4.0, 4.5, 5.0, 5.5, 6.0, 7.0, 8.0])
    price = round(face * rng.uniform(0.8, 1.2), 2)
    prog = (f"face_value = {face}\ncoupon_rate = {coupon}\nprice = {m(price)}\n"
            "annual_coupon = face_value * coupon_rate / 100\n"
            "answer = round(annual_coupon / price * 100, 2)")
    if lang == "en":
        q = (f"A bond with a face value of ${face} pays a {coupon}% annual coupon and trades at ${m(price)}. "
             "What is its current yield in percent?")
        ex = f"Annual coupon = {face} × {coupon}%; current yield = coupon / {m(price)} × 100 = {{ans}}%."
    else:
        q = f"某债券面值{face}元，票面利率{coupon}%（每年付息），当前价格{m(price)}元，其当期收益率是多少（百分比）？"
        ex = f"年利息 = {face} × {coupon}%；当期收益率 = 年利息 / {m(price)} × 100 = {{ans}}%。"
    return numeric(lang, q, prog, ex)


# --------------------------------------------------------------------------- sentiment

COMPANIES_EN = ["Northwind Holdings", "Apex Semiconductor", "BlueRiver Energy", "Crestline Bank", "Harborview Logistics",
                "Silverleaf Foods", "Ironclad Motors", "Brightwave Telecom", "Summitview Pharma", "Evergreen Retail",
                "Redstone Mining", "Pinecrest Insurance", "Lumenair Airlines", "Quantix Cloud Systems", "Granitefield Builders",
                "Oakmont Capital", "Starfield Media", "Coralbay Shipping", "Maplegate Software", "Sunridge Solar"]
COMPANIES_ZH = ["明川科技", "海晟物流", "远帆航运", "青岚医药", "星澜传媒", "鼎拓矿业", "云启软件", "恒翊银行", "泓岳能源",
                "澄宇半导体", "锦途航空", "朗泰保险", "沐禾食品", "泽峰建设", "蓝湾零售", "弘曜光伏", "融睿资本", "曜石通信",
                "栖林地产", "景澄汽车"]

HEADLINES_EN = {
    "positive": [
        "{co} posts record quarterly profit, beating analyst forecasts",
        "{co} raises full-year revenue guidance after strong {q}",
        "{co} shares jump {pct}% after earnings beat",
        "{co} wins ${amt} billion government contract",
        "{co} announces ${amt} billion share buyback program",
        "{co} lifts dividend by {pct}%",
        "{co} credit rating upgraded by major agency",
        "{co} {q} net income rises {pct}% on strong demand",
        "{co} reports {pct}% jump in {q} sales",
        "{co} returns to profit in {q} after two years of losses",
        "{co} secures regulatory approval for flagship product",
        "{co} beats expectations as margins widen",
        "{co} stock hits all-time high on upbeat outlook",
    ],
    "negative": [
        "{co} misses {q} earnings estimates, shares slide {pct}%",
        "{co} cuts full-year profit forecast amid weak demand",
        "{co} reports {q} net loss as costs surge",
        "{co} shares plunge {pct}% after CEO resigns amid accounting probe",
        "{co} fined ${amt} million by regulators over disclosure violations",
        "{co} files for bankruptcy protection",
        "{co} to lay off {pct}% of workforce as sales fall",
        "{co} credit rating downgraded to junk",
        "{co} recalls products over safety defects",
        "{co} suspends dividend after revenue drops {pct}%",
        "{co} defaults on bond payment",
        "{co} warns of {q} revenue shortfall",
        "{co} {q} revenue falls {pct}% year over year",
    ],
    "neutral": [
        "{co} to report {q} results on {date}",
        "{co} schedules annual shareholder meeting for {date}",
        "{co} appoints new company secretary",
        "{co} completes previously announced name change",
        "{co} publishes annual sustainability report",
        "{co} to present at industry conference on {date}",
        "{co} moves regional office within the same city",
        "{co} confirms board meeting date of {date}",
        "{co} files routine quarterly report with regulators",
        "{co} sets {date} as ex-dividend date for previously declared dividend",
        "{co} updates investor relations contact details",
        "{co} shares close flat on average trading volume",
        "{co} to hold investor day on {date}",
    ],
}
HEADLINES_ZH = {
    "positive": [
        "{co}{q}净利润同比增长{pct}%，超出市场预期",
        "{co}上调全年业绩指引",
        "{co}业绩超预期，股价大涨{pct}%",
        "{co}中标{amt}亿元政府项目",
        "{co}宣布{amt}亿元股份回购计划",
        "{co}将每股分红提高{pct}%",
        "{co}信用评级获上调",
        "{co}{q}营收同比增长{pct}%，创历史新高",
        "{co}扭亏为盈，{q}实现盈利",
        "{co}核心产品获监管批准上市",
        "{co}毛利率提升，业绩好于预期",
        "{co}股价创历史新高，机构看好前景",
        "{co}订单量大增{pct}%，产能满负荷运转",
    ],
    "negative": [
        "{co}{q}业绩不及预期，股价下跌{pct}%",
        "{co}下调全年盈利预测",
        "{co}{q}出现净亏损，成本大幅上升",
        "{co}董事长涉嫌财务造假被立案调查，股价暴跌{pct}%",
        "{co}因信息披露违规被罚款{amt}千万元",
        "{co}申请破产重整",
        "{co}销售持续下滑，宣布裁员{pct}%",
        "{co}信用评级遭下调至垃圾级",
        "{co}因安全缺陷召回产品",
        "{co}营收下降{pct}%，宣布暂停分红",
        "{co}发生债券违约",
        "{co}预警{q}营收将大幅下滑",
        "{co}{q}营收同比下降{pct}%",
    ],
    "neutral": [
        "{co}将于{date}发布{q}财报",
        "{co}定于{date}召开年度股东大会",
        "{co}聘任新任董事会秘书",
        "{co}完成此前公告的公司更名",
        "{co}发布年度社会责任报告",
        "{co}将于{date}参加行业交流会",
        "{co}办公地址在同城内搬迁",
        "{co}确认于{date}召开董事会",
        "{co}按期披露季度报告",
        "{co}公告此前已宣布分红的除息日为{date}",
        "{co}更新投资者关系联系方式",
        "{co}股价收平，成交量保持平稳",
        "{co}将于{date}举办投资者开放日",
    ],
}
SENT_LABELS = ["positive", "negative", "neutral"]
MONTHS_EN = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
             "November", "December"]


def t_headline_sentiment(rng, lang):
    label = rng.choice(SENT_LABELS)
    q = rng.randint(1, 4)
    mon, day = rng.randint(1, 12), rng.randint(1, 28)
    if lang == "en":
        tpl = rng.choice(HEADLINES_EN[label])
        text = tpl.format(co=rng.choice(COMPANIES_EN), q=f"Q{q}", pct=rng.randint(3, 40), amt=rng.randint(1, 20),
                          date=f"{MONTHS_EN[mon - 1]} {day}")
        instr = ("Classify the sentiment of the following financial news headline for the company's investors. "
                 "Answer with exactly one of: positive, negative, neutral.")
    else:
        tpl = rng.choice(HEADLINES_ZH[label])
        text = tpl.format(co=rng.choice(COMPANIES_ZH), q=rng.choice(["一季度", "二季度", "三季度", "四季度", "上半年"]),
                          pct=rng.randint(3, 40), amt=rng.randint(1, 20), date=f"{mon}月{day}日")
        instr = "判断以下财经新闻标题对该公司投资者的情感倾向，只回答 positive、negative、neutral 之一。"
    return {"kind": "classification", "instruction": instr, "input": text, "output": label, "answer": label,
            "labels": list(SENT_LABELS)}


# --------------------------------------------------------------------------- terms MC
# (term_en, definition_en, term_zh, definition_zh)
TERMS = [
    ("EBITDA", "Earnings before interest, taxes, depreciation and amortization",
     "息税折旧摊销前利润（EBITDA）", "扣除利息、所得税、折旧和摊销之前的利润"),
    ("Price-to-earnings (P/E) ratio", "Share price divided by earnings per share",
     "市盈率", "股价除以每股收益"),
    ("Price-to-book (P/B) ratio", "Share price divided by book value (net assets) per share",
     "市净率", "股价除以每股净资产"),
    ("Earnings per share (EPS)", "Net profit attributable to common shareholders divided by the number of common shares outstanding",
     "每股收益", "归属于普通股股东的净利润除以发行在外的普通股股数"),
    ("Liquidity", "How quickly and easily an asset can be converted into cash without a large loss in value",
     "流动性", "资产能够迅速变现且不会造成重大价值损失的能力"),
    ("Debt-to-asset ratio", "Total liabilities divided by total assets",
     "资产负债率", "负债总额除以资产总额"),
    ("Current ratio", "Current assets divided by current liabilities",
     "流动比率", "流动资产除以流动负债"),
    ("Quick ratio", "Current assets minus inventories, divided by current liabilities",
     "速动比率", "流动资产扣除存货后除以流动负债"),
    ("Return on equity (ROE)", "Net income divided by shareholders' equity",
     "净资产收益率", "净利润除以股东权益（净资产）"),
    ("Return on assets (ROA)", "Net income divided by total assets",
     "总资产收益率", "净利润除以总资产"),
    ("Gross margin", "Revenue minus cost of goods sold, divided by revenue",
     "毛利率", "营业收入减去营业成本后除以营业收入"),
    ("Net profit margin", "Net income divided by revenue",
     "净利率", "净利润除以营业收入"),
    ("Dividend yield", "Annual dividend per share divided by the share price",
     "股息率", "每股年度股息除以股价"),
    ("Market capitalization", "Share price multiplied by the number of shares outstanding",
     "市值", "股价乘以总股本"),
    ("Bond", "A debt security on which the issuer pays interest and repays the principal at maturity",
     "债券", "发行人按约定支付利息并在到期时偿还本金的债务凭证"),
    ("Coupon rate", "The annual interest a bond pays, expressed as a percentage of its face value",
     "票面利率", "债券每年支付的利息占面值的百分比"),
    ("Yield to maturity", "The annualized return earned if a bond is bought at its current price and held until maturity",
     "到期收益率", "按当前价格买入债券并持有至到期所获得的年化收益率"),
    ("Duration", "A measure of a bond's price sensitivity to changes in interest rates",
     "久期", "衡量债券价格对利率变动敏感程度的指标"),
    ("Inflation", "A sustained rise in the general price level that reduces purchasing power",
     "通货膨胀", "一般物价水平持续上涨、货币购买力下降的现象"),
    ("Diversification", "Spreading investments across different assets to reduce risk",
     "分散投资", "把资金配置于不同资产以降低风险"),
    ("Beta", "A measure of how sensitive a security's returns are to movements in the overall market",
     "贝塔系数", "衡量证券收益相对于整体市场波动敏感程度的指标"),
    ("Volatility", "The degree of variation in an asset's price or returns, often measured by standard deviation",
     "波动率", "资产价格或收益率变动的幅度，通常用标准差衡量"),
    ("Hedging", "Taking an offsetting position to reduce the risk of adverse price movements",
     "对冲", "建立相反方向的头寸以降低不利价格变动风险"),
    ("Derivative", "A contract whose value is derived from the value of an underlying asset, rate or index",
     "衍生品", "价值取决于标的资产、利率或指数的金融合约"),
    ("Option", "A contract giving the right, but not the obligation, to buy or sell an asset at a set price",
     "期权", "赋予持有人在约定价格买入或卖出资产的权利而非义务的合约"),
    ("Futures contract", "A standardized exchange-traded agreement to buy or sell an asset at a set price on a future date",
     "期货", "在交易所交易、约定在未来某日以约定价格买卖标的资产的标准化合约"),
    ("Short selling", "Selling borrowed securities in the hope of buying them back later at a lower price",
     "卖空", "借入证券卖出，期望日后以更低价格买回归还"),
    ("Initial public offering (IPO)", "The first sale of a company's shares to the public",
     "首次公开募股（IPO）", "公司首次向社会公众公开发行股票"),
    ("Free cash flow", "Operating cash flow minus capital expenditures",
     "自由现金流", "经营活动现金流量减去资本支出"),
    ("Working capital", "Current assets minus current liabilities",
     "营运资本", "流动资产减去流动负债"),
    ("Depreciation", "Allocating the cost of a tangible fixed asset over its useful life",
     "折旧", "将有形固定资产的成本在其使用年限内分摊"),
    ("Amortization", "Allocating the cost of an intangible asset over its useful life",
     "摊销", "将无形资产的成本在其使用年限内分摊"),
    ("Goodwill", "The excess of an acquisition price over the fair value of the identifiable net assets acquired",
     "商誉", "收购成本超过所取得可辨认净资产公允价值的部分"),
    ("Financial leverage", "Using borrowed money to amplify potential returns on equity",
     "财务杠杆", "利用借入资金放大股东权益的潜在收益"),
    ("Net present value (NPV)", "The present value of future cash inflows minus the present value of outflows",
     "净现值", "未来现金流入现值减去现金流出现值的差额"),
    ("Internal rate of return (IRR)", "The discount rate at which a project's net present value equals zero",
     "内部收益率", "使项目净现值等于零的折现率"),
    ("Compound interest", "Interest calculated on both the principal and the interest already accumulated",
     "复利", "按本金加上已累计利息计算的利息"),
    ("Bull market", "A market in which prices rise over a sustained period",
     "牛市", "价格在较长时期内持续上涨的市场"),
    ("Bear market", "A market in which prices fall over a sustained period, often by 20% or more",
     "熊市", "价格在较长时期内持续下跌（通常跌幅达20%以上）的市场"),
    ("Accounts receivable", "Money owed to a company by customers for goods or services delivered on credit",
     "应收账款", "企业因赊销商品或提供服务而应向客户收取的款项"),
    ("Balance sheet", "A statement of a company's assets, liabilities and equity at a point in time",
     "资产负债表", "反映企业在某一时点资产、负债和所有者权益状况的报表"),
    ("Income statement", "A statement of a company's revenues, expenses and profit over a period",
     "利润表", "反映企业一定期间收入、费用和利润情况的报表"),
    ("Cash flow statement", "A statement of cash inflows and outflows from operating, investing and financing activities",
     "现金流量表", "反映企业经营、投资和筹资活动现金流入与流出的报表"),
    ("Capital expenditure (CapEx)", "Spending to acquire or upgrade long-term physical assets",
     "资本支出", "用于购置或改良长期实物资产的支出"),
    ("Credit rating", "An assessment of a borrower's ability to repay its debts",
     "信用评级", "对借款人偿债能力和违约风险的评估"),
]


def t_term_mc(rng, lang):
    i = rng.randrange(len(TERMS))
    others = [j for j in range(len(TERMS)) if j != i]
    ds = rng.sample(others, 3)
    te, de, tz, dz = TERMS[i]
    if rng.random() < 0.5:  # term -> definition
        if lang == "en":
            return mc(lang, rng, f"Which of the following best defines \"{te}\"?", de, [TERMS[j][1] for j in ds])
        return mc(lang, rng, f"以下哪一项最准确地描述了“{tz}”？", dz, [TERMS[j][3] for j in ds])
    if lang == "en":
        return mc(lang, rng, f"Which financial term matches this definition: \"{de}\"?", te, [TERMS[j][0] for j in ds])
    return mc(lang, rng, f"下列哪个金融术语对应以下定义：“{dz}”？", tz, [TERMS[j][2] for j in ds])


TASKS = [
    ("percent_change", t_percent_change),
    ("cagr", t_cagr),
    ("simple_interest", t_simple_interest),
    ("compound_interest", t_compound_interest),
    ("loan_payment", t_loan_payment),
    ("npv", t_npv),
    ("irr", t_irr),
    ("profit_margin", t_profit_margin),
    ("financial_ratio", t_financial_ratio),
    ("currency_conversion", t_currency_conversion),
    ("break_even", t_break_even),
    ("bond_current_yield", t_bond_current_yield),
    ("headline_sentiment", t_headline_sentiment),
    ("term_mc", t_term_mc),
]

# --------------------------------------------------------------------------- build


def build(seed):
    seen, train, ev = set(), [], []
    for task, gen in TASKS:
        for lang in ("en", "zh"):
            rng = random.Random(f"{PREFIX}:{seed}:{task}:{lang}")
            need, items, tries = TRAIN_PER_LANG + EVAL_PER_LANG, [], 0
            while len(items) < need:
                tries += 1
                if tries > 100 * need:
                    raise RuntimeError(f"cannot generate enough unique items for {task}/{lang}")
                r = gen(rng, lang)
                key = (r["instruction"], r["input"])
                if key in seen:
                    continue
                seen.add(key)
                items.append((task, lang, r))
            ev.extend(items[:EVAL_PER_LANG])
            train.extend(items[EVAL_PER_LANG:])
    random.Random(f"{PREFIX}:{seed}:shuffle").shuffle(train)
    counters = {}
    out = {}
    for name, items in (("train", train), ("eval", ev)):
        recs = []
        for task, lang, r in items:
            counters[(task, lang)] = counters.get((task, lang), 0) + 1
            rec = {"id": f"{PREFIX}-{task}-{lang}-{counters[(task, lang)]:06d}", "task": task, "kind": r["kind"],
                   "lang": lang, "instruction": r["instruction"], "input": r["input"], "output": r["output"]}
            for k in ("answer", "program", "choices", "labels"):
                if k in r:
                    rec[k] = r[k]
            recs.append(rec)
        out[name] = recs
    return out


def write_jsonl(path, recs):
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        for r in recs:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=HERE, help="output directory (default: next to this script)")
    a = ap.parse_args()
    data = build(a.seed)
    os.makedirs(a.out, exist_ok=True)
    for name in ("train", "eval"):
        write_jsonl(os.path.join(a.out, f"{name}.jsonl"), data[name])
        print(f"{name}: {len(data[name])} records")


if __name__ == "__main__":
    main()
