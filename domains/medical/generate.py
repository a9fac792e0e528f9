#!/usr/bin/env python3
"""Generate the medical domain pack (train.jsonl / eval.jsonl) deterministically.

Standalone: stdlib only.  Usage: python generate.py [--seed 0] [--out DIR]

EDUCATIONAL DATA ONLY - not clinical advice.  Numeric items are textbook formula
exercises with generic drugs/orders; every `answer` is obtained by executing the
record's gold `program`.  Knowledge items are basic, uncontroversial facts.
Running twice with the same seed gives byte-identical files.
"""
import argparse
import json
import os
import random

HERE = os.path.dirname(os.path.abspath(__file__))
PREFIX = "med"
TRAIN_PER_LANG = 110   # per task and language
EVAL_PER_LANG = 17

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


def f1(x):
    return repr(round(float(x), 1))


# --------------------------------------------------------------------------- numeric tasks


def t_weight_dose(rng, lang):
    w = round(rng.uniform(3, 95), 1)
    v = rng.choice(["single", "divided", "capped"])
    if v == "single":
        d = rng.choice([0.1, 0.5, 1, 2, 2.5, 5, 7.5, 10, 12.5, 15, 20, 25])
        prog = f"weight_kg = {w}\ndose_mg_per_kg = {d}\nanswer = round(weight_kg * dose_mg_per_kg, 2)"
        en = (f"A patient weighing {w} kg is ordered a medication at {d} mg/kg per dose. How many mg should be given per dose?",
              f"Dose = {d} mg/kg × {w} kg = {{ans}} mg.")
        zh = (f"患者体重{w} kg，医嘱某药物按{d} mg/kg每次给药，每次应给药多少毫克（mg）？",
              f"每次剂量 = {d} mg/kg × {w} kg = {{ans}} mg。")
    elif v == "divided":
        d = rng.choice([10, 15, 20, 25, 30, 40, 45, 50, 60, 80, 90, 100])
        n = rng.choice([2, 3, 4])
        prog = (f"weight_kg = {w}\ndaily_mg_per_kg = {d}\ndoses_per_day = {n}\n"
                "answer = round(weight_kg * daily_mg_per_kg / doses_per_day, 2)")
        en = (f"A child weighing {w} kg is ordered {d} mg/kg/day of a medication divided into {n} equal doses. "
              "How many mg is each dose?",
              f"Daily dose = {d} × {w} mg; each dose = daily dose / {n} = {{ans}} mg.")
        zh = (f"患儿体重{w} kg，医嘱某药每日{d} mg/kg，分{n}次等量给予，每次剂量是多少毫克？",
              f"每日总量 = {d} × {w} mg；每次 = 每日总量 / {n} = {{ans}} mg。")
    else:
        d = rng.choice([5, 10, 15, 20])
        cap = rng.choice([250, 500, 750, 1000])
        prog = (f"weight_kg = {w}\ndose_mg_per_kg = {d}\nmax_dose_mg = {cap}\n"
                "answer = round(min(weight_kg * dose_mg_per_kg, max_dose_mg), 2)")
        en = (f"A medication is dosed at {d} mg/kg per dose, not to exceed {cap} mg per dose. "
              f"What dose in mg should a {w} kg patient receive?",
              f"{d} × {w} mg, capped at {cap} mg, gives {{ans}} mg.")
        zh = (f"某药按{d} mg/kg每次给药，单次最大剂量不超过{cap} mg。体重{w} kg的患者每次应给药多少毫克？",
              f"{d} × {w} mg，与上限{cap} mg取较小值，得{{ans}} mg。")
    q, ex = en if lang == "en" else zh
    return numeric(lang, q, prog, ex)


def t_dose_volume(rng, lang):
    conc_mg, conc_ml = rng.choice([(125, 5), (250, 5), (100, 5), (40, 1), (50, 1), (10, 1), (500, 10), (200, 5),
                                   (1, 1), (2, 1), (25, 1), (80, 2)])
    if rng.random() < 0.5:
        dose = round(conc_mg / conc_ml * rng.uniform(0.3, 6), 1)
        prog = (f"dose_mg = {dose}\nstock_mg = {conc_mg}\nstock_ml = {conc_ml}\n"
                "answer = round(dose_mg / stock_mg * stock_ml, 2)")
        en = (f"The order is {dose} mg. The medication is supplied as {conc_mg} mg in {conc_ml} mL. How many mL should be given?",
              f"Volume = {dose} mg ÷ {conc_mg} mg × {conc_ml} mL = {{ans}} mL.")
        zh = (f"医嘱剂量为{dose} mg，药液规格为{conc_mg} mg/{conc_ml} mL，应抽取多少毫升（mL）？",
              f"体积 = {dose} mg ÷ {conc_mg} mg × {conc_ml} mL = {{ans}} mL。")
    else:
        w = round(rng.uniform(3, 80), 1)
        d = rng.choice([0.1, 0.5, 1, 2, 5, 10, 15])
        prog = (f"weight_kg = {w}\ndose_mg_per_kg = {d}\nstock_mg = {conc_mg}\nstock_ml = {conc_ml}\n"
                "dose_mg = weight_kg * dose_mg_per_kg\nanswer = round(dose_mg / stock_mg * stock_ml, 2)")
        en = (f"A {w} kg patient needs {d} mg/kg of a medication available as {conc_mg} mg per {conc_ml} mL. "
              "What volume in mL should be drawn up?",
              f"Dose = {d} × {w} mg; volume = dose ÷ {conc_mg} × {conc_ml} = {{ans}} mL.")
        zh = (f"患者体重{w} kg，需按{d} mg/kg给药，药液规格为{conc_mg} mg/{conc_ml} mL，应抽取多少毫升？",
              f"剂量 = {d} × {w} mg；体积 = 剂量 ÷ {conc_mg} × {conc_ml} = {{ans}} mL。")
    q, ex = en if lang == "en" else zh
    return numeric(lang, q, prog, ex)


def t_infusion_rate(rng, lang):
    while True:
        r = _infusion_rate(rng, lang)
        g = {}
        exec(r["program"], g)  # noqa: S102
        if not _tie(g["rate"], 1):
            return r


def _infusion_rate(rng, lang):
    v = rng.choice(["hours", "minutes", "dose"])
    if v == "hours":
        vol = rng.choice([100, 250, 500, 750, 1000, 1500, 2000])
        h = rng.choice([1, 2, 3, 4, 5, 6, 8, 10, 12, 16, 24])
        prog = f"volume_ml = {vol}\nhours = {h}\nrate = volume_ml / hours\nanswer = round(rate, 1)"
        en = (f"Infuse {vol} mL of IV fluid over {h} hours. What pump rate in mL/h is required?",
              f"Rate = {vol} mL ÷ {h} h = {{ans}} mL/h.")
        zh = (f"{vol} mL静脉液体需在{h}小时内输完，输液泵速度应设为多少 mL/h？",
              f"速度 = {vol} mL ÷ {h} h = {{ans}} mL/h。")
    elif v == "minutes":
        vol = rng.choice([50, 100, 150, 200, 250])
        mins = rng.choice([15, 20, 30, 40, 45, 60, 90])
        prog = f"volume_ml = {vol}\nminutes = {mins}\nrate = volume_ml / minutes * 60\nanswer = round(rate, 1)"
        en = (f"An IV medication of {vol} mL is to be infused over {mins} minutes. What is the rate in mL/h?",
              f"Rate = {vol} mL ÷ {mins} min × 60 = {{ans}} mL/h.")
        zh = (f"{vol} mL药液需在{mins}分钟内静脉输完，速度是多少 mL/h？",
              f"速度 = {vol} mL ÷ {mins} min × 60 = {{ans}} mL/h。")
    else:
        amount = rng.choice([100, 200, 250, 500, 1000, 25000])
        bag = rng.choice([50, 100, 250, 500])
        per_h = round(amount / bag * rng.uniform(0.5, 20), 1)
        unit = "units" if amount == 25000 else "mg"
        unit_zh = "单位" if amount == 25000 else "mg"
        prog = (f"ordered_per_hour = {per_h}\namount_in_bag = {amount}\nbag_volume_ml = {bag}\n"
                "concentration = amount_in_bag / bag_volume_ml\nrate = ordered_per_hour / concentration\nanswer = round(rate, 1)")
        en = (f"An infusion is ordered at {per_h} {unit}/h. The bag contains {amount} {unit} in {bag} mL. "
              "At what rate in mL/h should the pump be set?",
              f"Concentration = {amount}/{bag} {unit}/mL; rate = {per_h} ÷ concentration = {{ans}} mL/h.")
        zh = (f"医嘱以{per_h} {unit_zh}/h持续静脉泵入，药袋内含{amount} {unit_zh}/{bag} mL，泵速应设为多少 mL/h？",
              f"浓度 = {amount}/{bag} {unit_zh}/mL；泵速 = {per_h} ÷ 浓度 = {{ans}} mL/h。")
    q, ex = en if lang == "en" else zh
    return numeric(lang, q, prog, ex)


def _tie(x, ndigits):
    """True when x sits exactly on a rounding midpoint (avoid: round-half-even vs half-up ambiguity)."""
    y = abs(x) * 10 ** ndigits
    return abs(y - int(y) - 0.5) < 1e-9


def t_drip_rate(rng, lang):
    while True:
        vol = rng.choice([100, 250, 500, 750, 1000, 1500])
        df = rng.choice([10, 15, 20, 60])
        if rng.random() < 0.6:
            h = rng.choice([1, 2, 3, 4, 6, 8, 10, 12])
            mins, time_line = h * 60, f"minutes = {h} * 60\n"
            t_en, t_zh = (f"{h} hour" if h == 1 else f"{h} hours"), f"{h}小时"
        else:
            mins = rng.choice([20, 30, 45, 60, 90, 120])
            time_line = f"minutes = {mins}\n"
            t_en, t_zh = f"{mins} minutes", f"{mins}分钟"
        if not _tie(vol * df / mins, 0):
            break
    prog = f"volume_ml = {vol}\ndrop_factor = {df}\n{time_line}answer = round(volume_ml * drop_factor / minutes)"
    if lang == "en":
        q = (f"{vol} mL is to be infused over {t_en} using a gravity set with a drop factor of {df} drops/mL. "
             "What is the drip rate in drops per minute (rounded to a whole number)?")
        ex = f"Drops/min = volume × drop factor ÷ minutes = {vol} × {df} ÷ {mins} ≈ {{ans}}."
    else:
        q = f"{vol} mL液体需在{t_zh}内输完，输液器滴系数为{df}滴/mL，滴速应为每分钟多少滴（取整数）？"
        ex = f"滴速 = 液体量 × 滴系数 ÷ 分钟数 = {vol} × {df} ÷ {mins} ≈ {{ans}}滴/分。"
    return numeric(lang, q, prog, ex)


def t_bmi(rng, lang):
    h = rng.randint(145, 200)
    w = round(rng.uniform(16, 40) * (h / 100) ** 2, 1)
    prog = f"weight_kg = {w}\nheight_m = {h} / 100\nanswer = round(weight_kg / height_m ** 2, 1)"
    if lang == "en":
        q = f"An adult weighs {w} kg and is {h} cm tall. What is the body mass index (BMI) in kg/m², to one decimal place?"
        ex = f"BMI = {w} / ({h / 100})² = {{ans}} kg/m²."
    else:
        q = f"成人体重{w} kg，身高{h} cm，体重指数（BMI）是多少 kg/m²（保留一位小数）？"
        ex = f"BMI = {w} / ({h / 100})² = {{ans}} kg/m²。"
    return numeric(lang, q, prog, ex)


def t_bsa(rng, lang):
    child = rng.random() < 0.3
    h = rng.randint(60, 150) if child else rng.randint(145, 200)
    w = round(rng.uniform(14, 22 if child else 38) * (h / 100) ** 2, 1)
    prog = f"import math\nheight_cm = {h}\nweight_kg = {w}\nanswer = round(math.sqrt(height_cm * weight_kg / 3600), 2)"
    who_en, who_zh = ("a child", "患儿") if child else ("a patient", "患者")
    if lang == "en":
        q = f"Using the Mosteller formula, what is the body surface area (m²) of {who_en} who is {h} cm tall and weighs {w} kg?"
        ex = f"BSA = √({h} × {w} / 3600) = {{ans}} m²."
    else:
        q = f"{who_zh}身高{h} cm，体重{w} kg，用Mosteller公式计算体表面积（m²）是多少？"
        ex = f"BSA = √({h} × {w} / 3600) = {{ans}} m²。"
    return numeric(lang, q, prog, ex)


def t_unit_conversion(rng, lang):
    v = rng.choice(["mg_g", "g_mg", "mg_mcg", "mcg_mg", "lb_kg", "kg_lb", "f_c", "c_f", "l_ml"])
    if v == "mg_g":
        x = rng.choice([5, 25, 50, 125, 250, 325, 500, 750, 1250, 1500, 2000, 4500])
        prog, en, zh = f"mg = {x}\nanswer = round(mg / 1000, 4)", f"Convert {x} mg to grams.", f"{x}毫克（mg）等于多少克（g）？"
        ex_en, ex_zh = f"1 g = 1000 mg, so {x} ÷ 1000 = {{ans}} g.", f"1 g = 1000 mg，{x} ÷ 1000 = {{ans}} g。"
    elif v == "g_mg":
        x = rng.choice([0.05, 0.1, 0.125, 0.25, 0.4, 0.5, 0.75, 1.2, 1.5, 2, 2.5, 3])
        prog, en, zh = f"g = {x}\nanswer = round(g * 1000, 2)", f"Convert {x} g to milligrams.", f"{x}克（g）等于多少毫克（mg）？"
        ex_en, ex_zh = f"{x} × 1000 = {{ans}} mg.", f"{x} × 1000 = {{ans}} mg。"
    elif v == "mg_mcg":
        x = rng.choice([0.025, 0.05, 0.1, 0.125, 0.2, 0.25, 0.4, 0.5, 1, 1.5, 2.5, 5])
        prog, en, zh = f"mg = {x}\nanswer = round(mg * 1000, 2)", f"Convert {x} mg to micrograms (mcg).", f"{x}毫克（mg）等于多少微克（μg）？"
        ex_en, ex_zh = f"1 mg = 1000 mcg, so {x} × 1000 = {{ans}} mcg.", f"1 mg = 1000 μg，{x} × 1000 = {{ans}} μg。"
    elif v == "mcg_mg":
        x = rng.choice([25, 50, 75, 88, 100, 112, 125, 150, 200, 250, 500, 1000, 2500])
        prog, en, zh = f"mcg = {x}\nanswer = round(mcg / 1000, 4)", f"Convert {x} mcg to milligrams.", f"{x}微克（μg）等于多少毫克（mg）？"
        ex_en, ex_zh = f"{x} ÷ 1000 = {{ans}} mg.", f"{x} ÷ 1000 = {{ans}} mg。"
    elif v == "lb_kg":
        x = round(rng.uniform(5, 300), 1)
        prog = f"pounds = {x}\nanswer = round(pounds / 2.20462, 2)"
        en, zh = f"A patient weighs {x} lb. What is the weight in kg (1 kg = 2.20462 lb)?", f"患者体重{x}磅（lb），折合多少千克（1 kg = 2.20462 lb）？"
        ex_en, ex_zh = f"{x} ÷ 2.20462 = {{ans}} kg.", f"{x} ÷ 2.20462 = {{ans}} kg。"
    elif v == "kg_lb":
        x = round(rng.uniform(2, 140), 1)
        prog = f"kg = {x}\nanswer = round(kg * 2.20462, 2)"
        en, zh = f"Convert {x} kg to pounds (1 kg = 2.20462 lb).", f"{x}千克折合多少磅（1 kg = 2.20462 lb）？"
        ex_en, ex_zh = f"{x} × 2.20462 = {{ans}} lb.", f"{x} × 2.20462 = {{ans}} lb。"
    elif v == "f_c":
        x = round(rng.uniform(93, 106), 1)
        prog = f"fahrenheit = {x}\nanswer = round((fahrenheit - 32) * 5 / 9, 1)"
        en, zh = f"A temperature of {x} °F is how many °C (one decimal)?", f"体温{x} °F等于多少摄氏度（保留一位小数）？"
        ex_en, ex_zh = f"°C = ({x} - 32) × 5/9 = {{ans}} °C.", f"°C = ({x} - 32) × 5/9 = {{ans}} °C。"
    elif v == "c_f":
        x = round(rng.uniform(34, 42), 1)
        prog = f"celsius = {x}\nanswer = round(celsius * 9 / 5 + 32, 1)"
        en, zh = f"Convert a body temperature of {x} °C to °F (one decimal).", f"体温{x} °C等于多少华氏度（保留一位小数）？"
        ex_en, ex_zh = f"°F = {x} × 9/5 + 32 = {{ans}} °F.", f"°F = {x} × 9/5 + 32 = {{ans}} °F。"
    else:
        x = round(rng.uniform(0.05, 3.5), 2)
        prog = f"liters = {x}\nanswer = round(liters * 1000, 1)"
        en, zh = f"How many mL are in {x} L?", f"{x}升（L）等于多少毫升（mL）？"
        ex_en, ex_zh = f"{x} × 1000 = {{ans}} mL.", f"{x} × 1000 = {{ans}} mL。"
    return numeric(lang, en if lang == "en" else zh, prog, ex_en if lang == "en" else ex_zh)


def t_creatinine_clearance(rng, lang):
    age = rng.randint(20, 90)
    w = round(rng.uniform(40, 120), 1)
    female = rng.random() < 0.5
    umol = lang == "zh" and rng.random() < 0.5
    if umol:
        scr_u = rng.randint(45, 350)
        scr_line = f"scr_umol_l = {scr_u}\nscr_mg_dl = scr_umol_l / 88.4\n"
        scr_zh = f"血肌酐{scr_u} μmol/L（1 mg/dL = 88.4 μmol/L）"
    else:
        scr = round(rng.uniform(0.5, 4.0), 1)
        scr_line = f"scr_mg_dl = {scr}\n"
        scr_zh = f"血肌酐{scr} mg/dL"
        scr_en = f"serum creatinine of {scr} mg/dL"
    prog = (f"age = {age}\nweight_kg = {w}\n{scr_line}female = {female}\n"
            "crcl = (140 - age) * weight_kg / (72 * scr_mg_dl)\n"
            "if female:\n    crcl *= 0.85\n"
            "answer = round(crcl, 1)")
    if lang == "en":
        sex = "woman" if female else "man"
        q = (f"Using the Cockcroft-Gault equation, estimate the creatinine clearance (mL/min) of a {age}-year-old {sex} "
             f"weighing {w} kg with a {scr_en}.")
        ex = f"CrCl = (140 - {age}) × {w} / (72 × Scr)" + (" × 0.85 (female)" if female else "") + " = {ans} mL/min."
    else:
        sex = "女性" if female else "男性"
        q = f"{age}岁{sex}，体重{w} kg，{scr_zh}。用Cockcroft-Gault公式估算其肌酐清除率（mL/min）。"
        ex = f"CrCl = (140 - {age}) × {w} / (72 × Scr[mg/dL])" + ("× 0.85（女性）" if female else "") + " = {ans} mL/min。"
    return numeric(lang, q, prog, ex)


def t_maintenance_fluid(rng, lang):
    w = round(rng.uniform(2, 80), 1) if rng.random() < 0.8 else float(rng.randint(2, 80))
    hourly = rng.random() < 0.5
    if hourly:
        prog = (f"weight_kg = {w}\nif weight_kg <= 10:\n    rate = 4 * weight_kg\n"
                "elif weight_kg <= 20:\n    rate = 40 + 2 * (weight_kg - 10)\n"
                "else:\n    rate = 60 + 1 * (weight_kg - 20)\nanswer = round(rate, 1)")
        en = (f"Using the Holliday-Segar (4-2-1) rule, what is the hourly maintenance fluid rate in mL/h for a patient weighing {w} kg?",
              "4 mL/kg/h for the first 10 kg, 2 mL/kg/h for the next 10 kg, 1 mL/kg/h above 20 kg: {ans} mL/h.")
        zh = (f"按Holliday-Segar法（4-2-1法则），体重{w} kg的患者每小时维持液量是多少 mL/h？",
              "前10 kg按4 mL/kg/h，次10 kg按2 mL/kg/h，超过20 kg部分按1 mL/kg/h：{ans} mL/h。")
    else:
        prog = (f"weight_kg = {w}\nif weight_kg <= 10:\n    daily = 100 * weight_kg\n"
                "elif weight_kg <= 20:\n    daily = 1000 + 50 * (weight_kg - 10)\n"
                "else:\n    daily = 1500 + 20 * (weight_kg - 20)\nanswer = round(daily, 1)")
        en = (f"Using the Holliday-Segar method, what is the daily maintenance fluid requirement in mL/day for a patient weighing {w} kg?",
              "100 mL/kg for the first 10 kg, 50 mL/kg for the next 10 kg, 20 mL/kg above 20 kg: {ans} mL/day.")
        zh = (f"按Holliday-Segar法，体重{w} kg的患者每日维持液需要量是多少 mL/d？",
              "前10 kg按100 mL/kg，次10 kg按50 mL/kg，超过20 kg部分按20 mL/kg：{ans} mL/d。")
    q, ex = en if lang == "en" else zh
    return numeric(lang, q, prog, ex)


# --------------------------------------------------------------------------- knowledge MC
# (drug_en, class_en, drug_zh, class_zh) - each drug's class is unique in this list
DRUGS = [
    ("Metformin", "Biguanide (oral antidiabetic)", "二甲双胍", "双胍类降糖药"),
    ("Amoxicillin", "Penicillin-class antibiotic", "阿莫西林", "青霉素类抗生素"),
    ("Atorvastatin", "Statin (HMG-CoA reductase inhibitor)", "阿托伐他汀", "他汀类（HMG-CoA还原酶抑制剂）"),
    ("Lisinopril", "ACE inhibitor", "赖诺普利", "血管紧张素转换酶抑制剂（ACEI）"),
    ("Losartan", "Angiotensin II receptor blocker (ARB)", "氯沙坦", "血管紧张素II受体拮抗剂（ARB）"),
    ("Metoprolol", "Beta-blocker", "美托洛尔", "β受体阻滞剂"),
    ("Amlodipine", "Calcium channel blocker", "氨氯地平", "钙通道阻滞剂"),
    ("Omeprazole", "Proton pump inhibitor", "奥美拉唑", "质子泵抑制剂"),
    ("Furosemide", "Loop diuretic", "呋塞米", "袢利尿剂"),
    ("Hydrochlorothiazide", "Thiazide diuretic", "氢氯噻嗪", "噻嗪类利尿剂"),
    ("Warfarin", "Vitamin K antagonist anticoagulant", "华法林", "维生素K拮抗剂类抗凝药"),
    ("Ibuprofen", "Nonsteroidal anti-inflammatory drug (NSAID)", "布洛芬", "非甾体抗炎药（NSAID）"),
    ("Salbutamol (albuterol)", "Short-acting beta-2 agonist bronchodilator", "沙丁胺醇", "短效β2受体激动剂（支气管扩张剂）"),
    ("Sertraline", "Selective serotonin reuptake inhibitor (SSRI)", "舍曲林", "选择性5-羟色胺再摄取抑制剂（SSRI）"),
    ("Morphine", "Opioid analgesic", "吗啡", "阿片类镇痛药"),
    ("Naloxone", "Opioid receptor antagonist", "纳洛酮", "阿片受体拮抗剂"),
    ("Azithromycin", "Macrolide antibiotic", "阿奇霉素", "大环内酯类抗生素"),
    ("Ciprofloxacin", "Fluoroquinolone antibiotic", "环丙沙星", "氟喹诺酮类抗菌药"),
    ("Loratadine", "Second-generation H1 antihistamine", "氯雷他定", "第二代H1受体拮抗剂（抗组胺药）"),
    ("Prednisone", "Corticosteroid (glucocorticoid)", "泼尼松", "糖皮质激素"),
    ("Diazepam", "Benzodiazepine", "地西泮", "苯二氮䓬类药物"),
    ("Insulin glargine", "Long-acting insulin", "甘精胰岛素", "长效胰岛素"),
    ("Levothyroxine", "Thyroid hormone replacement", "左甲状腺素", "甲状腺激素替代药"),
    ("Clopidogrel", "P2Y12 inhibitor antiplatelet agent", "氯吡格雷", "P2Y12受体抑制剂类抗血小板药"),
]

# (question_en, answer_en, distractors_en, question_zh, answer_zh, distractors_zh)
FACTS = [
    ("Which cells of the pancreas produce insulin?", "Beta cells of the islets of Langerhans",
     ["Alpha cells of the islets of Langerhans", "Acinar cells", "Kupffer cells"],
     "胰岛素由胰腺的哪种细胞分泌？", "胰岛β细胞", ["胰岛α细胞", "腺泡细胞", "库普弗细胞"]),
    ("What is the main function of red blood cells?", "Carrying oxygen to the tissues",
     ["Producing antibodies", "Forming blood clots", "Digesting fats"],
     "红细胞的主要功能是什么？", "运输氧气", ["产生抗体", "形成血凝块", "消化脂肪"]),
    ("What is the basic functional unit of the kidney?", "The nephron", ["The alveolus", "The neuron", "The hepatic lobule"],
     "肾脏的基本功能单位是什么？", "肾单位", ["肺泡", "神经元", "肝小叶"]),
    ("Which organ produces bile?", "The liver", ["The gallbladder", "The pancreas", "The spleen"],
     "胆汁由哪个器官分泌？", "肝脏", ["胆囊", "胰腺", "脾脏"]),
    ("What is the largest organ of the human body?", "The skin", ["The liver", "The brain", "The heart"],
     "人体最大的器官是什么？", "皮肤", ["肝脏", "大脑", "心脏"]),
    ("Where does gas exchange take place in the lungs?", "In the alveoli", ["In the trachea", "In the bronchi", "In the pleural cavity"],
     "肺内气体交换发生在哪里？", "肺泡", ["气管", "支气管", "胸膜腔"]),
    ("Which heart chamber pumps oxygenated blood into the aorta?", "The left ventricle",
     ["The right ventricle", "The right atrium", "The left atrium"],
     "哪个心腔将含氧血泵入主动脉？", "左心室", ["右心室", "右心房", "左心房"]),
    ("What is the natural pacemaker of the heart?", "The sinoatrial (SA) node",
     ["The atrioventricular (AV) node", "The bundle of His", "The mitral valve"],
     "心脏的正常起搏点是什么？", "窦房结", ["房室结", "希氏束", "二尖瓣"]),
    ("Which gland secretes thyroxine (T4)?", "The thyroid gland", ["The adrenal gland", "The pituitary gland", "The pancreas"],
     "甲状腺素（T4）由哪个腺体分泌？", "甲状腺", ["肾上腺", "垂体", "胰腺"]),
    ("What is the main role of platelets?", "Helping the blood to clot", ["Carrying oxygen", "Producing hormones", "Filtering urine"],
     "血小板的主要作用是什么？", "参与止血和凝血", ["运输氧气", "分泌激素", "过滤尿液"]),
    ("Which part of the brain mainly coordinates balance and fine movement?", "The cerebellum",
     ["The medulla oblongata", "The hypothalamus", "The occipital lobe"],
     "主要负责协调平衡和精细运动的是脑的哪个部分？", "小脑", ["延髓", "下丘脑", "枕叶"]),
    ("Where are most nutrients absorbed?", "The small intestine", ["The stomach", "The large intestine", "The esophagus"],
     "大部分营养物质在哪里被吸收？", "小肠", ["胃", "大肠", "食管"]),
    ("Deficiency of which vitamin causes scurvy?", "Vitamin C", ["Vitamin A", "Vitamin D", "Vitamin K"],
     "缺乏哪种维生素会导致坏血病？", "维生素C", ["维生素A", "维生素D", "维生素K"]),
    ("Vitamin D deficiency in children causes which condition?", "Rickets", ["Scurvy", "Beriberi", "Night blindness"],
     "儿童缺乏维生素D可引起哪种疾病？", "佝偻病", ["坏血病", "脚气病", "夜盲症"]),
    ("Deficiency of which vitamin causes night blindness?", "Vitamin A", ["Vitamin C", "Vitamin B12", "Vitamin E"],
     "缺乏哪种维生素可导致夜盲症？", "维生素A", ["维生素C", "维生素B12", "维生素E"]),
    ("Deficiency of vitamin B1 (thiamine) causes which disease?", "Beriberi", ["Rickets", "Scurvy", "Night blindness"],
     "缺乏维生素B1（硫胺素）可引起哪种疾病？", "脚气病", ["佝偻病", "坏血病", "夜盲症"]),
    ("Which vitamin is required to make several blood clotting factors?", "Vitamin K", ["Vitamin C", "Vitamin B1", "Vitamin A"],
     "合成多种凝血因子需要哪种维生素？", "维生素K", ["维生素C", "维生素B1", "维生素A"]),
    ("Vitamin B12 deficiency typically causes which type of anemia?", "Megaloblastic anemia",
     ["Iron-deficiency anemia", "Sickle cell anemia", "Thalassemia"],
     "维生素B12缺乏通常导致哪种贫血？", "巨幼细胞贫血", ["缺铁性贫血", "镰状细胞贫血", "地中海贫血"]),
    ("Which layer of the eye contains the light-sensitive photoreceptor cells?", "The retina", ["The cornea", "The lens", "The iris"],
     "眼球中含有感光细胞的是哪一层结构？", "视网膜", ["角膜", "晶状体", "虹膜"]),
    ("What is the longest bone in the human body?", "The femur", ["The humerus", "The tibia", "The radius"],
     "人体最长的骨是哪一块？", "股骨", ["肱骨", "胫骨", "桡骨"]),
    ("How many bones does a typical adult human skeleton have?", "206", ["106", "306", "156"],
     "成人骨骼通常有多少块骨？", "206块", ["106块", "306块", "156块"]),
    ("Which blood type is the universal red-cell donor?", "O negative", ["AB positive", "A positive", "B negative"],
     "红细胞输血中的“万能供血者”是哪种血型？", "O型Rh阴性", ["AB型Rh阳性", "A型Rh阳性", "B型Rh阴性"]),
    ("Which blood type is the universal red-cell recipient?", "AB positive", ["O negative", "A negative", "B positive"],
     "红细胞输血中的“万能受血者”是哪种血型？", "AB型Rh阳性", ["O型Rh阴性", "A型Rh阴性", "B型Rh阳性"]),
    ("Which element in hemoglobin binds oxygen?", "Iron", ["Calcium", "Zinc", "Magnesium"],
     "血红蛋白中与氧结合的元素是什么？", "铁", ["钙", "锌", "镁"]),
    ("What is the normal resting heart rate range for adults?", "60-100 beats per minute",
     ["20-40 beats per minute", "120-160 beats per minute", "180-220 beats per minute"],
     "成人正常静息心率范围是多少？", "60–100次/分", ["20–40次/分", "120–160次/分", "180–220次/分"]),
    ("What is the normal resting respiratory rate for adults?", "12-20 breaths per minute",
     ["4-8 breaths per minute", "30-40 breaths per minute", "50-60 breaths per minute"],
     "成人正常静息呼吸频率是多少？", "12–20次/分", ["4–8次/分", "30–40次/分", "50–60次/分"]),
    ("What is the normal pH range of arterial blood?", "7.35-7.45", ["6.85-6.95", "7.00-7.10", "7.60-7.70"],
     "正常动脉血pH范围是多少？", "7.35–7.45", ["6.85–6.95", "7.00–7.10", "7.60–7.70"]),
    ("What is the normal serum sodium range?", "135-145 mmol/L", ["95-105 mmol/L", "160-170 mmol/L", "3.5-5.0 mmol/L"],
     "血清钠的正常范围是多少？", "135–145 mmol/L", ["95–105 mmol/L", "160–170 mmol/L", "3.5–5.5 mmol/L"]),
    ("What is the approximate normal serum potassium range?", "3.5-5.0 mmol/L", ["135-145 mmol/L", "0.5-1.0 mmol/L", "8.0-10.0 mmol/L"],
     "血清钾的正常范围约为多少？", "3.5–5.5 mmol/L", ["135–145 mmol/L", "0.5–1.0 mmol/L", "8.0–10.0 mmol/L"]),
    ("What is the approximate normal core body temperature of a healthy adult?", "About 37 °C",
     ["About 34 °C", "About 39.5 °C", "About 41 °C"],
     "健康成人的正常体温约为多少？", "约37 °C", ["约34 °C", "约39.5 °C", "约41 °C"]),
    ("Which blood pressure reading is in the normal range for an adult?", "115/75 mmHg",
     ["165/105 mmHg", "190/120 mmHg", "70/40 mmHg"],
     "以下哪个血压读数属于成人正常范围？", "115/75 mmHg", ["165/105 mmHg", "190/120 mmHg", "70/40 mmHg"]),
    ("According to the WHO, what is the normal BMI range for adults?", "18.5-24.9 kg/m²",
     ["10.0-14.9 kg/m²", "30.0-34.9 kg/m²", "35.0-39.9 kg/m²"],
     "按照中国成人标准，体重正常的BMI范围是多少？", "18.5–23.9 kg/m²", ["10.0–14.9 kg/m²", "28.0–31.9 kg/m²", "35.0–39.9 kg/m²"]),
    ("Which fasting plasma glucose value is normal for an adult?", "85 mg/dL", ["150 mg/dL", "250 mg/dL", "30 mg/dL"],
     "以下哪个空腹血糖值属于成人正常范围？", "5.0 mmol/L", ["9.5 mmol/L", "15.0 mmol/L", "1.8 mmol/L"]),
    ("HbA1c reflects the average blood glucose over approximately what period?", "The past 2-3 months",
     ["The past 2-3 days", "The past 2-3 weeks", "The past 2-3 years"],
     "糖化血红蛋白（HbA1c）反映过去大约多长时间的平均血糖水平？", "2–3个月", ["2–3天", "2–3周", "2–3年"]),
    ("Type 1 diabetes is mainly caused by what?", "Autoimmune destruction of pancreatic beta cells",
     ["Excess dietary salt", "A bacterial infection of the liver", "Vitamin C deficiency"],
     "1型糖尿病主要由什么引起？", "自身免疫导致胰岛β细胞破坏", ["饮食中盐摄入过多", "肝脏细菌感染", "维生素C缺乏"]),
    ("What causes tuberculosis?", "A bacterium (Mycobacterium tuberculosis)", ["A virus", "A fungus", "A parasitic worm"],
     "结核病的病原体是什么？", "结核分枝杆菌（细菌）", ["病毒", "真菌", "寄生虫"]),
    ("How is malaria transmitted to humans?", "Bites of infected Anopheles mosquitoes",
     ["Contaminated drinking water", "Tick bites", "Houseflies landing on food"],
     "疟疾主要通过什么途径传播给人？", "受感染按蚊的叮咬", ["饮用被污染的水", "蜱虫叮咬", "家蝇污染食物"]),
    ("What type of pathogen causes influenza?", "A virus", ["A bacterium", "A fungus", "A protozoan"],
     "流行性感冒的病原体属于哪一类？", "病毒", ["细菌", "真菌", "原虫"]),
    ("Antibiotics are used to treat infections caused by what?", "Bacteria",
     ["Viruses such as the common cold", "Allergic reactions", "Genetic disorders"],
     "抗生素用于治疗由什么引起的感染？", "细菌", ["病毒（如普通感冒）", "过敏反应", "遗传病"]),
    ("What chest compression rate is recommended in adult CPR?", "100-120 compressions per minute",
     ["40-60 compressions per minute", "60-80 compressions per minute", "150-180 compressions per minute"],
     "成人心肺复苏推荐的胸外按压频率是多少？", "每分钟100–120次", ["每分钟40–60次", "每分钟60–80次", "每分钟150–180次"]),
    ("What chest compression depth is recommended in adult CPR?", "5-6 cm", ["1-2 cm", "2-3 cm", "8-10 cm"],
     "成人心肺复苏推荐的胸外按压深度是多少？", "5–6 cm", ["1–2 cm", "2–3 cm", "8–10 cm"]),
    ("Which hormone lowers blood glucose?", "Insulin", ["Glucagon", "Adrenaline (epinephrine)", "Cortisol"],
     "哪种激素能够降低血糖？", "胰岛素", ["胰高血糖素", "肾上腺素", "皮质醇"]),
    ("Which organs filter the blood to produce urine?", "The kidneys", ["The liver", "The spleen", "The bladder"],
     "哪个器官通过过滤血液生成尿液？", "肾脏", ["肝脏", "脾脏", "膀胱"]),
    ("Which blood vessels carry blood away from the heart?", "Arteries", ["Veins", "Venules", "Lymphatic vessels"],
     "将血液从心脏运出的血管是什么？", "动脉", ["静脉", "小静脉", "淋巴管"]),
    ("What does the pulmonary artery carry?", "Deoxygenated blood from the right ventricle to the lungs",
     ["Oxygenated blood from the lungs to the left atrium", "Oxygenated blood to the brain", "Lymph to the thoracic duct"],
     "肺动脉输送的是什么？", "由右心室流向肺的缺氧血", ["由肺流回左心房的含氧血", "流向大脑的含氧血", "流向胸导管的淋巴液"]),
    ("Which white blood cells are the most numerous in healthy adults?", "Neutrophils",
     ["Eosinophils", "Basophils", "Monocytes"],
     "健康成人外周血中数量最多的白细胞是哪一种？", "中性粒细胞", ["嗜酸性粒细胞", "嗜碱性粒细胞", "单核细胞"]),
    ("Which cells secrete antibodies?", "Plasma cells (derived from B lymphocytes)", ["Red blood cells", "Platelets", "Osteoclasts"],
     "抗体由哪种细胞分泌？", "浆细胞（由B淋巴细胞分化而来）", ["红细胞", "血小板", "破骨细胞"]),
    ("Which hormone does the adrenal medulla release in the fight-or-flight response?", "Adrenaline (epinephrine)",
     ["Insulin", "Melatonin", "Thyroxine"],
     "应激（“战斗或逃跑”）反应时肾上腺髓质释放的主要激素是什么？", "肾上腺素", ["胰岛素", "褪黑素", "甲状腺素"]),
    ("What is a main function of the large intestine?", "Absorbing water and electrolytes",
     ["Producing bile", "Secreting insulin", "Digesting protein with pepsin"],
     "大肠的主要功能之一是什么？", "吸收水分和电解质", ["分泌胆汁", "分泌胰岛素", "用胃蛋白酶消化蛋白质"]),
    ("Which organ secretes hydrochloric acid for digestion?", "The stomach", ["The pancreas", "The liver", "The gallbladder"],
     "哪个器官分泌盐酸（胃酸）参与消化？", "胃", ["胰腺", "肝脏", "胆囊"]),
    ("Iodine deficiency can cause which condition?", "Goiter (enlarged thyroid)", ["Rickets", "Scurvy", "Gout"],
     "缺碘可导致哪种疾病？", "甲状腺肿", ["佝偻病", "坏血病", "痛风"]),
    ("Gout is caused by the deposition of which crystals in joints?", "Uric acid (urate) crystals",
     ["Cholesterol crystals", "Glucose crystals", "Bilirubin crystals"],
     "痛风是由哪种晶体在关节沉积引起的？", "尿酸盐晶体", ["胆固醇晶体", "葡萄糖晶体", "胆红素晶体"]),
    ("The brain and spinal cord together form which system?", "The central nervous system",
     ["The peripheral nervous system", "The autonomic nervous system", "The enteric nervous system"],
     "脑和脊髓共同构成什么？", "中枢神经系统", ["周围神经系统", "自主神经系统", "肠神经系统"]),
    ("Which valve separates the left atrium from the left ventricle?", "The mitral valve",
     ["The tricuspid valve", "The pulmonary valve", "The aortic valve"],
     "左心房与左心室之间的瓣膜是什么？", "二尖瓣", ["三尖瓣", "肺动脉瓣", "主动脉瓣"]),
    ("Which hormone stimulates red blood cell production and is made mainly by the kidneys?", "Erythropoietin (EPO)",
     ["Insulin", "Aldosterone", "Oxytocin"],
     "主要由肾脏产生、能刺激红细胞生成的激素是什么？", "促红细胞生成素（EPO）", ["胰岛素", "醛固酮", "缩宫素"]),
    ("Which cells in the bone marrow give rise to all blood cells?", "Hematopoietic stem cells",
     ["Osteoblasts", "Adipocytes", "Chondrocytes"],
     "骨髓中能分化为各类血细胞的是什么细胞？", "造血干细胞", ["成骨细胞", "脂肪细胞", "软骨细胞"]),
]


def t_medical_mc(rng, lang):
    if rng.random() < 0.4:
        i = rng.randrange(len(DRUGS))
        ds = rng.sample([j for j in range(len(DRUGS)) if j != i], 3)
        de, ce, dz, cz = DRUGS[i]
        if rng.random() < 0.5:
            if lang == "en":
                return mc(lang, rng, f"To which drug class does {de.lower()} belong?",
                          ce, [DRUGS[j][1] for j in ds])
            return mc(lang, rng, f"{dz}属于哪一类药物？", cz, [DRUGS[j][3] for j in ds])
        if lang == "en":
            return mc(lang, rng, f"Which of the following drugs is classified as: {ce}?", de, [DRUGS[j][0] for j in ds])
        return mc(lang, rng, f"下列哪种药物属于{cz}？", dz, [DRUGS[j][2] for j in ds])
    qe, ae, dse, qz, az, dsz = FACTS[rng.randrange(len(FACTS))]
    if lang == "en":
        return mc(lang, rng, qe, ae, dse)
    return mc(lang, rng, qz, az, dsz)


TASKS = [
    ("weight_dose", t_weight_dose),
    ("dose_volume", t_dose_volume),
    ("infusion_rate", t_infusion_rate),
    ("drip_rate", t_drip_rate),
    ("bmi", t_bmi),
    ("bsa", t_bsa),
    ("unit_conversion", t_unit_conversion),
    ("creatinine_clearance", t_creatinine_clearance),
    ("maintenance_fluid", t_maintenance_fluid),
    ("medical_mc", t_medical_mc),
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
