"""Few-shot Program-of-Thoughts prompts per domain, in English and Chinese.

``pot_prompt(domain, lang)`` returns the system instruction followed by 2-3 worked examples
(question -> a ```python block that binds ``answer``). Every example program runs in
:class:`~verticalize.pot.PythonSandbox` and gives the ``answer`` recorded in :data:`POT_EXAMPLES`
(the tests check this).
"""

from __future__ import annotations

from verticalize.errors import UnknownNameError

__all__ = ["POT_SYSTEM_PROMPT", "POT_EXAMPLES", "POT_DOMAINS", "POT_LANGS", "pot_prompt"]

POT_LANGS = ("en", "zh")

POT_SYSTEM_PROMPT = {
    "en": ("Solve the problem by writing a short Python program. Put the program in one "
           "```python block. Use only the standard library (math, datetime, fractions, "
           "statistics...), numpy or sympy; no files, network or input(). Give variables "
           "meaningful names, and bind the final result to a variable named `answer` (a number "
           "rounded as the question asks, or a string such as an ISO date)."),
    "zh": ("请编写一段简短的 Python 程序来解题，并把程序放在一个 ```python 代码块中。"
           "只可使用标准库（math、datetime、fractions、statistics 等）、numpy 或 sympy；"
           "不要读写文件、访问网络或调用 input()。变量名要有意义，并把最终结果赋给名为 "
           "`answer` 的变量（按题目要求取舍的数字，或 ISO 格式日期等字符串）。"),
}

_LABELS = {"en": ("Question:", "Program:"), "zh": ("问题：", "程序：")}

# domain -> examples; each example: question per language, program, expected answer.
POT_EXAMPLES: dict[str, list[dict]] = {
    "finance": [
        {"question": {
            "en": "A stock's price rose from $80.00 to $92.00. What is the percentage change, "
                  "rounded to two decimals?",
            "zh": "某股票价格从 80.00 元上涨到 92.00 元，涨跌幅是多少（百分比，保留两位小数）？"},
         "program": "old_price = 80.00\nnew_price = 92.00\n"
                    "percent_change = (new_price - old_price) / old_price * 100\n"
                    "answer = round(percent_change, 2)",
         "answer": 15.0},
        {"question": {
            "en": "A $200,000 mortgage has a 6% annual interest rate, compounded monthly, and is "
                  "repaid in equal monthly payments over 30 years. What is the monthly payment, "
                  "rounded to the cent?",
            "zh": "一笔 200,000 元的房贷，年利率 6%（按月计息），30 年等额本息按月还款。"
                  "每月还款额是多少（保留到分）？"},
         "program": "principal = 200_000\nmonthly_rate = 0.06 / 12\nn_payments = 30 * 12\n"
                    "payment = principal * monthly_rate / (1 - (1 + monthly_rate) ** -n_payments)\n"
                    "answer = round(payment, 2)",
         "answer": 1199.10},
        {"question": {
            "en": "$10,000 is invested at 5% per year, compounded annually. What is it worth "
                  "after 3 years, rounded to the cent?",
            "zh": "10,000 元按年利率 5% 每年复利投资，3 年后本息合计多少（保留到分）？"},
         "program": "principal = 10_000\nrate = 0.05\nyears = 3\n"
                    "answer = round(principal * (1 + rate) ** years, 2)",
         "answer": 11576.25},
    ],
    "medical": [
        {"question": {
            "en": "A child weighing 18 kg is prescribed amoxicillin 25 mg/kg/day, divided into "
                  "2 doses. How many mg per dose?",
            "zh": "一名体重 18 kg 的儿童，阿莫西林医嘱剂量为 25 mg/kg/天，分 2 次服用。"
                  "每次剂量是多少 mg？"},
         "program": "weight_kg = 18\ndose_mg_per_kg_day = 25\ndoses_per_day = 2\n"
                    "daily_mg = weight_kg * dose_mg_per_kg_day\n"
                    "answer = round(daily_mg / doses_per_day, 2)",
         "answer": 225.0},
        {"question": {
            "en": "1000 mL of normal saline is to be infused over 8 hours with an infusion pump. "
                  "What rate should be set, in mL/h?",
            "zh": "1000 mL 生理盐水需在 8 小时内用输液泵输完，输液速度应设为多少 mL/h？"},
         "program": "volume_ml = 1000\nhours = 8\nanswer = round(volume_ml / hours, 1)",
         "answer": 125.0},
        {"question": {
            "en": "A patient weighs 70 kg and is 1.75 m tall. What is the BMI, rounded to one "
                  "decimal?",
            "zh": "患者体重 70 kg、身高 1.75 m，体重指数（BMI）是多少（保留一位小数）？"},
         "program": "weight_kg = 70\nheight_m = 1.75\nanswer = round(weight_kg / height_m ** 2, 1)",
         "answer": 22.9},
    ],
    "legal": [
        {"question": {
            "en": "A judgment was served on 2024-03-03 and an appeal must be filed within 15 "
                  "days of service. What is the last day to appeal (ISO date)?",
            "zh": "判决书于 2024-03-03 送达，上诉期为送达之日起 15 日。最后上诉日期是哪天"
                  "（ISO 日期）？"},
         "program": "from datetime import date, timedelta\nserved = date(2024, 3, 3)\n"
                    "deadline = served + timedelta(days=15)\nanswer = deadline.isoformat()",
         "answer": "2024-03-18"},
        {"question": {
            "en": "A contract signed on 2024-01-15 requires notice within 90 days of signing. "
                  "As of 2024-03-01, how many days remain until the deadline?",
            "zh": "合同于 2024-01-15 签订，约定须在签订后 90 日内发出通知。截至 2024-03-01，"
                  "距离截止日还剩多少天？"},
         "program": "from datetime import date, timedelta\nsigned = date(2024, 1, 15)\n"
                    "deadline = signed + timedelta(days=90)\ntoday = date(2024, 3, 1)\n"
                    "answer = (deadline - today).days",
         "answer": 44},
        {"question": {
            "en": "A debt of 50,000 is 45 days overdue and the contract sets a late fee of 0.05% "
                  "per day. What is the late fee?",
            "zh": "一笔 50,000 元的欠款逾期 45 天，合同约定每日按 0.05% 支付违约金。违约金是多少？"},
         "program": "debt = 50_000\ndaily_rate = 0.05 / 100\ndays_late = 45\n"
                    "answer = round(debt * daily_rate * days_late, 2)",
         "answer": 1125.0},
    ],
    "general": [
        {"question": {
            "en": "A train travels 180 km in 2.5 hours. What is its average speed in km/h?",
            "zh": "一列火车 2.5 小时行驶了 180 公里，平均速度是多少 km/h？"},
         "program": "distance_km = 180\nhours = 2.5\nanswer = distance_km / hours",
         "answer": 72.0},
        {"question": {
            "en": "Two numbers add up to 10 and differ by 2. What is their product?",
            "zh": "两个数之和为 10，之差为 2，它们的乘积是多少？"},
         "program": "from sympy import symbols, Eq, solve\nx, y = symbols('x y')\n"
                    "solution = solve([Eq(x + y, 10), Eq(x - y, 2)], [x, y])\n"
                    "answer = int(solution[x] * solution[y])",
         "answer": 24},
        {"question": {
            "en": "In how many ways can a committee of 3 be chosen from 10 people?",
            "zh": "从 10 人中选出 3 人组成委员会，有多少种选法？"},
         "program": "import math\nanswer = math.comb(10, 3)",
         "answer": 120},
    ],
}
POT_DOMAINS = tuple(POT_EXAMPLES)


def pot_prompt(domain: str, lang: str = "en", question: str | None = None) -> str:
    """The few-shot PoT prompt of ``domain`` in ``lang`` ("en" or "zh").

    With ``question``, it is appended as the final, unanswered example.
    """
    if domain not in POT_EXAMPLES:
        raise UnknownNameError("PoT domain", domain, POT_DOMAINS)
    if lang not in POT_LANGS:
        raise UnknownNameError("PoT language", lang, POT_LANGS)
    q_label, p_label = _LABELS[lang]
    parts = [POT_SYSTEM_PROMPT[lang], ""]
    for ex in POT_EXAMPLES[domain]:
        parts += [f"{q_label} {ex['question'][lang]}", p_label,
                  f"```python\n{ex['program']}\n```", ""]
    if question is not None:
        parts += [f"{q_label} {question.strip()}", p_label]
    return "\n".join(parts).rstrip() + "\n"
