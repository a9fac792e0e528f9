#!/usr/bin/env python3
"""Generate the general-knowledge pack (train.jsonl / eval.jsonl) deterministically.

Standalone: stdlib only.  Usage: python generate.py [--seed 0] [--out DIR]

Easy instruction/knowledge items a small instruct model already handles (capitals,
element symbols, antonyms, word translation, simple arithmetic, unit facts, letter
counting, sorting, basic science MC) in en and zh, used to measure forgetting while a
model is adapted to a vertical.  Numeric items carry a `program`; their `answer` is
obtained by executing it.  Running twice with the same seed gives byte-identical files.
"""
import argparse
import json
import os
import random

HERE = os.path.dirname(os.path.abspath(__file__))
PREFIX = "gen"
TRAIN_PER_LANG = 111   # per task and language
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


def gen(instruction, output):
    return {"kind": "generation", "instruction": instruction, "input": "", "output": output}


# --------------------------------------------------------------------------- knowledge tables

CAPITALS = [  # (country_en, capital_en, country_zh, capital_zh)
    ("France", "Paris", "法国", "巴黎"), ("Germany", "Berlin", "德国", "柏林"), ("Italy", "Rome", "意大利", "罗马"),
    ("Spain", "Madrid", "西班牙", "马德里"), ("Portugal", "Lisbon", "葡萄牙", "里斯本"),
    ("the United Kingdom", "London", "英国", "伦敦"), ("Ireland", "Dublin", "爱尔兰", "都柏林"),
    ("the Netherlands", "Amsterdam", "荷兰", "阿姆斯特丹"), ("Belgium", "Brussels", "比利时", "布鲁塞尔"),
    ("Switzerland", "Bern", "瑞士", "伯尔尼"), ("Austria", "Vienna", "奥地利", "维也纳"), ("Poland", "Warsaw", "波兰", "华沙"),
    ("the Czech Republic", "Prague", "捷克", "布拉格"), ("Hungary", "Budapest", "匈牙利", "布达佩斯"),
    ("Greece", "Athens", "希腊", "雅典"), ("Sweden", "Stockholm", "瑞典", "斯德哥尔摩"), ("Norway", "Oslo", "挪威", "奥斯陆"),
    ("Denmark", "Copenhagen", "丹麦", "哥本哈根"), ("Finland", "Helsinki", "芬兰", "赫尔辛基"),
    ("Iceland", "Reykjavik", "冰岛", "雷克雅未克"), ("Russia", "Moscow", "俄罗斯", "莫斯科"), ("Ukraine", "Kyiv", "乌克兰", "基辅"),
    ("Romania", "Bucharest", "罗马尼亚", "布加勒斯特"), ("Bulgaria", "Sofia", "保加利亚", "索非亚"),
    ("Serbia", "Belgrade", "塞尔维亚", "贝尔格莱德"), ("Turkey", "Ankara", "土耳其", "安卡拉"), ("Egypt", "Cairo", "埃及", "开罗"),
    ("Kenya", "Nairobi", "肯尼亚", "内罗毕"), ("Nigeria", "Abuja", "尼日利亚", "阿布贾"),
    ("Ethiopia", "Addis Ababa", "埃塞俄比亚", "亚的斯亚贝巴"), ("Morocco", "Rabat", "摩洛哥", "拉巴特"),
    ("Ghana", "Accra", "加纳", "阿克拉"), ("Uganda", "Kampala", "乌干达", "坎帕拉"), ("China", "Beijing", "中国", "北京"),
    ("Japan", "Tokyo", "日本", "东京"), ("South Korea", "Seoul", "韩国", "首尔"), ("India", "New Delhi", "印度", "新德里"),
    ("Pakistan", "Islamabad", "巴基斯坦", "伊斯兰堡"), ("Bangladesh", "Dhaka", "孟加拉国", "达卡"),
    ("Thailand", "Bangkok", "泰国", "曼谷"), ("Vietnam", "Hanoi", "越南", "河内"), ("the Philippines", "Manila", "菲律宾", "马尼拉"),
    ("Malaysia", "Kuala Lumpur", "马来西亚", "吉隆坡"), ("Mongolia", "Ulaanbaatar", "蒙古", "乌兰巴托"),
    ("Laos", "Vientiane", "老挝", "万象"), ("Cambodia", "Phnom Penh", "柬埔寨", "金边"), ("Nepal", "Kathmandu", "尼泊尔", "加德满都"),
    ("Afghanistan", "Kabul", "阿富汗", "喀布尔"), ("Iran", "Tehran", "伊朗", "德黑兰"), ("Iraq", "Baghdad", "伊拉克", "巴格达"),
    ("Saudi Arabia", "Riyadh", "沙特阿拉伯", "利雅得"), ("Qatar", "Doha", "卡塔尔", "多哈"), ("Jordan", "Amman", "约旦", "安曼"),
    ("Syria", "Damascus", "叙利亚", "大马士革"), ("the United States", "Washington, D.C.", "美国", "华盛顿"),
    ("Canada", "Ottawa", "加拿大", "渥太华"), ("Mexico", "Mexico City", "墨西哥", "墨西哥城"), ("Brazil", "Brasília", "巴西", "巴西利亚"),
    ("Argentina", "Buenos Aires", "阿根廷", "布宜诺斯艾利斯"), ("Chile", "Santiago", "智利", "圣地亚哥"), ("Peru", "Lima", "秘鲁", "利马"),
    ("Colombia", "Bogotá", "哥伦比亚", "波哥大"), ("Venezuela", "Caracas", "委内瑞拉", "加拉加斯"), ("Cuba", "Havana", "古巴", "哈瓦那"),
    ("Australia", "Canberra", "澳大利亚", "堪培拉"), ("New Zealand", "Wellington", "新西兰", "惠灵顿"),
]

ELEMENTS = [  # (name_en, symbol, name_zh)
    ("Hydrogen", "H", "氢"), ("Helium", "He", "氦"), ("Lithium", "Li", "锂"), ("Beryllium", "Be", "铍"), ("Boron", "B", "硼"),
    ("Carbon", "C", "碳"), ("Nitrogen", "N", "氮"), ("Oxygen", "O", "氧"), ("Fluorine", "F", "氟"), ("Neon", "Ne", "氖"),
    ("Sodium", "Na", "钠"), ("Magnesium", "Mg", "镁"), ("Aluminium", "Al", "铝"), ("Silicon", "Si", "硅"),
    ("Phosphorus", "P", "磷"), ("Sulfur", "S", "硫"), ("Chlorine", "Cl", "氯"), ("Argon", "Ar", "氩"), ("Potassium", "K", "钾"),
    ("Calcium", "Ca", "钙"), ("Titanium", "Ti", "钛"), ("Chromium", "Cr", "铬"), ("Manganese", "Mn", "锰"), ("Iron", "Fe", "铁"),
    ("Cobalt", "Co", "钴"), ("Nickel", "Ni", "镍"), ("Copper", "Cu", "铜"), ("Zinc", "Zn", "锌"), ("Bromine", "Br", "溴"),
    ("Krypton", "Kr", "氪"), ("Silver", "Ag", "银"), ("Tin", "Sn", "锡"), ("Iodine", "I", "碘"), ("Xenon", "Xe", "氙"),
    ("Barium", "Ba", "钡"), ("Tungsten", "W", "钨"), ("Platinum", "Pt", "铂"), ("Gold", "Au", "金"), ("Mercury", "Hg", "汞"),
    ("Lead", "Pb", "铅"), ("Uranium", "U", "铀"),
]

ANTONYMS_EN = [
    ("hot", "cold"), ("fast", "slow"), ("happy", "sad"), ("up", "down"), ("early", "late"), ("strong", "weak"),
    ("rich", "poor"), ("wide", "narrow"), ("deep", "shallow"), ("full", "empty"), ("winner", "loser"), ("buy", "sell"),
    ("push", "pull"), ("arrive", "depart"), ("accept", "reject"), ("asleep", "awake"), ("before", "after"),
    ("above", "below"), ("inside", "outside"), ("entrance", "exit"), ("friend", "enemy"), ("question", "answer"),
    ("minimum", "maximum"), ("increase", "decrease"), ("include", "exclude"), ("import", "export"), ("inhale", "exhale"),
    ("visible", "invisible"), ("possible", "impossible"), ("legal", "illegal"), ("honest", "dishonest"), ("true", "false"),
    ("always", "never"), ("day", "night"), ("north", "south"), ("east", "west"), ("success", "failure"),
    ("remember", "forget"), ("love", "hate"), ("wet", "dry"), ("clean", "dirty"), ("safe", "dangerous"),
    ("cheap", "expensive"), ("guilty", "innocent"), ("sunrise", "sunset"), ("horizontal", "vertical"),
    ("optimist", "pessimist"), ("ancient", "modern"), ("generous", "stingy"), ("victory", "defeat"),
]
ANTONYMS_ZH = [
    ("大", "小"), ("多", "少"), ("上", "下"), ("左", "右"), ("前", "后"), ("黑", "白"), ("冷", "热"), ("快", "慢"),
    ("长", "短"), ("胖", "瘦"), ("新", "旧"), ("远", "近"), ("深", "浅"), ("宽", "窄"), ("轻", "重"), ("买", "卖"),
    ("升", "降"), ("来", "去"), ("东", "西"), ("南", "北"), ("真", "假"), ("美", "丑"), ("对", "错"),
    ("输", "赢"), ("哭", "笑"), ("软", "硬"), ("开始", "结束"), ("增加", "减少"), ("安全", "危险"), ("简单", "复杂"),
    ("干净", "肮脏"), ("勤劳", "懒惰"), ("聪明", "愚蠢"), ("热闹", "冷清"), ("光明", "黑暗"), ("出口", "进口"),
    ("进步", "退步"), ("表扬", "批评"), ("希望", "失望"), ("肯定", "否定"), ("积极", "消极"), ("便宜", "昂贵"),
    ("集中", "分散"), ("前进", "后退"), ("上升", "下降"), ("陌生", "熟悉"), ("节约", "浪费"), ("优点", "缺点"),
    ("赞成", "反对"), ("古代", "现代"), ("内部", "外部"),
]

WORDS = [  # (english, chinese)
    ("apple", "苹果"), ("water", "水"), ("book", "书"), ("school", "学校"), ("teacher", "老师"), ("student", "学生"),
    ("computer", "电脑"), ("cat", "猫"), ("dog", "狗"), ("bird", "鸟"), ("fish", "鱼"), ("sun", "太阳"), ("moon", "月亮"),
    ("star", "星星"), ("river", "河"), ("mountain", "山"), ("tree", "树"), ("flower", "花"), ("rain", "雨"), ("snow", "雪"),
    ("friend", "朋友"), ("family", "家庭"), ("mother", "母亲"), ("father", "父亲"), ("house", "房子"), ("car", "汽车"),
    ("bicycle", "自行车"), ("train", "火车"), ("airplane", "飞机"), ("hospital", "医院"), ("doctor", "医生"), ("city", "城市"),
    ("money", "钱"), ("time", "时间"), ("morning", "早上"), ("night", "夜晚"), ("red", "红色"), ("blue", "蓝色"),
    ("green", "绿色"), ("black", "黑色"), ("white", "白色"), ("beautiful", "美丽"), ("eat", "吃"), ("drink", "喝"),
    ("run", "跑"), ("write", "写"), ("sleep", "睡觉"), ("milk", "牛奶"), ("bread", "面包"), ("egg", "鸡蛋"),
    ("chair", "椅子"), ("table", "桌子"), ("window", "窗户"), ("door", "门"), ("music", "音乐"), ("library", "图书馆"),
    ("kitchen", "厨房"), ("weather", "天气"), ("horse", "马"), ("rabbit", "兔子"), ("library card", "借书证"),
    ("umbrella", "雨伞"), ("summer", "夏天"), ("winter", "冬天"),
]

SCIENCE = [  # (q_en, a_en, ds_en, q_zh, a_zh, ds_zh)
    ("Which gas do plants absorb from the air for photosynthesis?", "Carbon dioxide", ["Oxygen", "Nitrogen", "Hydrogen"],
     "植物进行光合作用时从空气中吸收哪种气体？", "二氧化碳", ["氧气", "氮气", "氢气"]),
    ("At sea level, at what temperature does pure water boil?", "100 °C", ["0 °C", "50 °C", "150 °C"],
     "在标准大气压下，纯水的沸点是多少？", "100 °C", ["0 °C", "50 °C", "150 °C"]),
    ("At sea level, at what temperature does pure water freeze?", "0 °C", ["-20 °C", "10 °C", "50 °C"],
     "在标准大气压下，纯水的凝固点是多少？", "0 °C", ["-20 °C", "10 °C", "50 °C"]),
    ("Which planet is closest to the Sun?", "Mercury", ["Venus", "Earth", "Mars"],
     "哪颗行星离太阳最近？", "水星", ["金星", "地球", "火星"]),
    ("Which is the largest planet in the Solar System?", "Jupiter", ["Saturn", "Earth", "Neptune"],
     "太阳系中最大的行星是哪一颗？", "木星", ["土星", "地球", "海王星"]),
    ("Which planet is known as the Red Planet?", "Mars", ["Venus", "Jupiter", "Mercury"],
     "哪颗行星被称为“红色星球”？", "火星", ["金星", "木星", "水星"]),
    ("What is the chemical formula of water?", "H2O", ["CO2", "NaCl", "O2"],
     "水的化学式是什么？", "H2O", ["CO2", "NaCl", "O2"]),
    ("What force keeps the planets in orbit around the Sun?", "Gravity", ["Magnetism", "Friction", "Air pressure"],
     "是什么力使行星围绕太阳运行？", "万有引力", ["磁力", "摩擦力", "大气压力"]),
    ("Approximately how fast does light travel in a vacuum?", "About 300,000 km per second",
     ["About 300 km per second", "About 3,000 km per second", "About 30 km per second"],
     "光在真空中的传播速度约为多少？", "约每秒30万千米", ["约每秒300千米", "约每秒3000千米", "约每秒30千米"]),
    ("Which particle carries a negative electric charge?", "The electron", ["The proton", "The neutron", "The nucleus"],
     "哪种粒子带负电荷？", "电子", ["质子", "中子", "原子核"]),
    ("Which organelle is known as the powerhouse of the cell?", "The mitochondrion",
     ["The nucleus", "The ribosome", "The cell wall"],
     "被称为细胞“动力工厂”的细胞器是什么？", "线粒体", ["细胞核", "核糖体", "细胞壁"]),
    ("What is the hardest natural substance?", "Diamond", ["Gold", "Iron", "Quartz"],
     "自然界中最坚硬的天然物质是什么？", "金刚石（钻石）", ["黄金", "铁", "石英"]),
    ("Which gas makes up most of Earth's atmosphere?", "Nitrogen", ["Oxygen", "Carbon dioxide", "Argon"],
     "地球大气中含量最多的气体是什么？", "氮气", ["氧气", "二氧化碳", "氩气"]),
    ("About how long does Earth take to orbit the Sun once?", "About 365 days", ["About 30 days", "About 24 hours", "About 10 years"],
     "地球绕太阳公转一周大约需要多长时间？", "约365天", ["约30天", "约24小时", "约10年"]),
    ("About how long does Earth take to rotate once on its axis?", "About 24 hours", ["About 1 hour", "About 7 days", "About 365 days"],
     "地球自转一周大约需要多长时间？", "约24小时", ["约1小时", "约7天", "约365天"]),
    ("Which organ pumps blood around the human body?", "The heart", ["The lungs", "The liver", "The kidneys"],
     "哪个器官把血液泵送到全身？", "心脏", ["肺", "肝脏", "肾脏"]),
    ("Which of these animals is a mammal?", "Whale", ["Shark", "Salmon", "Octopus"],
     "下列哪种动物是哺乳动物？", "鲸", ["鲨鱼", "三文鱼", "章鱼"]),
    ("What is the largest ocean on Earth?", "The Pacific Ocean", ["The Atlantic Ocean", "The Indian Ocean", "The Arctic Ocean"],
     "地球上最大的海洋是哪个？", "太平洋", ["大西洋", "印度洋", "北冰洋"]),
    ("What is the pH of pure water at 25 °C?", "7", ["1", "4", "12"],
     "25 °C时纯水的pH值是多少？", "7", ["1", "4", "12"]),
    ("Which metal is liquid at room temperature?", "Mercury", ["Iron", "Copper", "Aluminium"],
     "哪种金属在常温下是液体？", "汞（水银）", ["铁", "铜", "铝"]),
    ("What are animals that eat only plants called?", "Herbivores", ["Carnivores", "Omnivores", "Decomposers"],
     "只吃植物的动物被称为什么？", "植食性动物", ["肉食性动物", "杂食性动物", "分解者"]),
    ("What is the process of liquid water turning into water vapour called?", "Evaporation",
     ["Condensation", "Freezing", "Melting"],
     "液态水变成水蒸气的过程叫什么？", "蒸发", ["凝结", "凝固", "熔化"]),
    ("What is the SI unit of electrical resistance?", "The ohm", ["The volt", "The ampere", "The watt"],
     "电阻的国际单位是什么？", "欧姆", ["伏特", "安培", "瓦特"]),
    ("What is the SI unit of force?", "The newton", ["The joule", "The watt", "The pascal"],
     "力的国际单位是什么？", "牛顿", ["焦耳", "瓦特", "帕斯卡"]),
    ("How many legs does an insect have?", "6", ["4", "8", "10"],
     "昆虫有几条腿？", "6条", ["4条", "8条", "10条"]),
    ("What is the highest mountain above sea level?", "Mount Everest", ["K2", "Kilimanjaro", "Mont Blanc"],
     "海拔最高的山峰是哪座？", "珠穆朗玛峰", ["乔戈里峰（K2）", "乞力马扎罗山", "勃朗峰"]),
    ("What is Earth's natural satellite?", "The Moon", ["Mars", "Venus", "The Sun"],
     "地球的天然卫星是什么？", "月球", ["火星", "金星", "太阳"]),
    ("Through which of these can sound NOT travel?", "A vacuum", ["Water", "Air", "Steel"],
     "声音不能在下列哪种环境中传播？", "真空", ["水", "空气", "钢铁"]),
    ("What is the main source of energy for life on Earth?", "The Sun", ["The Moon", "Volcanoes", "The ocean tides"],
     "地球上生命活动的主要能量来源是什么？", "太阳", ["月球", "火山", "潮汐"]),
    ("In which part of a plant does most photosynthesis take place?", "The leaves", ["The roots", "The flowers", "The seeds"],
     "植物的光合作用主要在哪个部位进行？", "叶片", ["根", "花", "种子"]),
    ("What do we call a substance made of only one kind of atom?", "An element", ["A mixture", "A compound", "A solution"],
     "只由一种原子组成的纯净物叫什么？", "单质（元素）", ["混合物", "化合物", "溶液"]),
    ("Which vitamin does the skin make when exposed to sunlight?", "Vitamin D", ["Vitamin A", "Vitamin C", "Vitamin K"],
     "皮肤在阳光照射下能合成哪种维生素？", "维生素D", ["维生素A", "维生素C", "维生素K"]),
]

# --------------------------------------------------------------------------- tasks


def t_capital(rng, lang):
    ce, ke, cz, kz = rng.choice(CAPITALS)
    cname = ce[0].upper() + ce[1:]
    if rng.random() < 0.75:
        if lang == "en":
            q = rng.choice([f"What is the capital of {ce}?", f"Name the capital city of {ce}.",
                            f"Which city is the capital of {ce}?"])
            return gen(q, ke)
        q = rng.choice([f"{cz}的首都是哪座城市？", f"请说出{cz}的首都。", f"{cz}的首都是什么？"])
        return gen(q, kz)
    if lang == "en":
        return gen(rng.choice([f"{ke} is the capital of which country?", f"Which country has {ke} as its capital?"]), cname)
    return gen(rng.choice([f"{kz}是哪个国家的首都？", f"首都是{kz}的国家是哪个？"]), cz)


def t_element_symbol(rng, lang):
    ne, sym, nz = rng.choice(ELEMENTS)
    if rng.random() < 0.6:
        if lang == "en":
            q = rng.choice([f"What is the chemical symbol for {ne.lower()}?", f"Give the element symbol of {ne.lower()}.",
                            f"Which symbol represents {ne.lower()} on the periodic table?"])
        else:
            q = rng.choice([f"{nz}元素的化学符号是什么？", f"请写出元素“{nz}”的元素符号。", f"元素周期表中{nz}的符号是什么？"])
        return gen(q, sym)
    if lang == "en":
        return gen(rng.choice([f"Which element has the chemical symbol {sym}?", f"What element does the symbol {sym} stand for?"]), ne)
    return gen(rng.choice([f"化学符号{sym}代表哪种元素？", f"元素符号{sym}表示什么元素？"]), nz)


def t_antonym(rng, lang):
    if lang == "en":
        a, b = rng.choice(ANTONYMS_EN)
        if rng.random() < 0.5:
            a, b = b, a
        q = rng.choice([f"What is the opposite of \"{a}\"?", f"Give an antonym of \"{a}\".",
                        f"Which word means the opposite of \"{a}\"?", f"Antonym of \"{a}\"? Answer with one word."])
        return gen(q, b)
    a, b = rng.choice(ANTONYMS_ZH)
    if rng.random() < 0.5:
        a, b = b, a
    q = rng.choice([f"“{a}”的反义词是什么？", f"请写出“{a}”的反义词。", f"与“{a}”意思相反的词是什么？"])
    return gen(q, b)


NAMES_EN = ["Tom", "Lisa", "Amy", "Ben", "Sara", "Jack", "Mia", "Leo", "Nina", "Omar"]
NAMES_ZH = ["小明", "小红", "小刚", "小丽", "小华", "小军", "小芳", "小杰"]


def t_arithmetic_word(rng, lang):
    v = rng.choice(["add", "sub", "mul_price", "share", "speed", "area", "class"])
    en_name, zh_name = rng.choice(NAMES_EN), rng.choice(NAMES_ZH)
    if v == "add":
        a, b = rng.randint(2, 60), rng.randint(2, 60)
        prog = f"have = {a}\nbought = {b}\nanswer = have + bought"
        en = (f"{en_name} has {a} apples and buys {b} more. How many apples does {en_name} have now?", f"{a} + {b} = {{ans}}.")
        zh = (f"{zh_name}有{a}个苹果，又买了{b}个，现在一共有多少个苹果？", f"{a} + {b} = {{ans}}。")
    elif v == "sub":
        a = rng.randint(20, 120)
        b = rng.randint(1, a - 1)
        prog = f"had = {a}\ngave_away = {b}\nanswer = had - gave_away"
        en = (f"{en_name} had {a} stickers and gave away {b}. How many stickers are left?", f"{a} - {b} = {{ans}}.")
        zh = (f"{zh_name}有{a}张贴纸，送给同学{b}张，还剩多少张？", f"{a} - {b} = {{ans}}。")
    elif v == "mul_price":
        p, q, n, k = rng.randint(2, 30), rng.randint(1, 9), rng.randint(1, 6), rng.randint(1, 6)
        prog = f"book_price = {p}\npen_price = {q}\nbooks = {n}\npens = {k}\nanswer = books * book_price + pens * pen_price"
        en = (f"A book costs ${p} and a pen costs ${q}. How much do {n} books and {k} pens cost in total, in dollars?",
              f"{n} × {p} + {k} × {q} = {{ans}}.")
        zh = (f"一本书{p}元，一支笔{q}元。买{n}本书和{k}支笔一共需要多少元？", f"{n} × {p} + {k} × {q} = {{ans}}。")
    elif v == "share":
        k = rng.randint(2, 12)
        each = rng.randint(2, 15)
        prog = f"cookies = {k * each}\nchildren = {k}\nanswer = cookies // children"
        en = (f"{k * each} cookies are shared equally among {k} children. How many cookies does each child get?",
              f"{k * each} ÷ {k} = {{ans}}.")
        zh = (f"{k * each}块饼干平均分给{k}个小朋友，每人分到几块？", f"{k * each} ÷ {k} = {{ans}}。")
    elif v == "speed":
        s, t = rng.randint(3, 120), rng.randint(2, 9)
        prog = f"speed_km_per_h = {s}\nhours = {t}\nanswer = speed_km_per_h * hours"
        en = (f"A car travels at {s} km/h for {t} hours. How many kilometres does it travel?", f"{s} × {t} = {{ans}} km.")
        zh = (f"一辆汽车以每小时{s}千米的速度行驶了{t}小时，一共行驶了多少千米？", f"{s} × {t} = {{ans}}千米。")
    elif v == "area":
        w, h = rng.randint(2, 30), rng.randint(2, 30)
        prog = f"width = {w}\nlength = {h}\nanswer = width * length"
        en = (f"A rectangle is {w} cm wide and {h} cm long. What is its area in square centimetres?", f"{w} × {h} = {{ans}} cm².")
        zh = (f"一个长方形宽{w}厘米、长{h}厘米，它的面积是多少平方厘米？", f"{w} × {h} = {{ans}}平方厘米。")
    else:
        b, g = rng.randint(5, 30), rng.randint(5, 30)
        prog = f"boys = {b}\ngirls = {g}\nanswer = boys + girls"
        en = (f"A class has {b} boys and {g} girls. How many students are in the class?", f"{b} + {g} = {{ans}}.")
        zh = (f"一个班有男生{b}人、女生{g}人，这个班一共有多少名学生？", f"{b} + {g} = {{ans}}。")
    q, ex = en if lang == "en" else zh
    return numeric(lang, q, prog, ex)


UNITS = [  # (big_en_singular, big_en_plural, small_en, big_zh, small_zh, factor)
    ("week", "weeks", "days", "周", "天", 7), ("day", "days", "hours", "天", "小时", 24),
    ("hour", "hours", "minutes", "小时", "分钟", 60), ("minute", "minutes", "seconds", "分钟", "秒", 60),
    ("year", "years", "months", "年", "个月", 12), ("metre", "metres", "centimetres", "米", "厘米", 100),
    ("kilometre", "kilometres", "metres", "千米", "米", 1000), ("kilogram", "kilograms", "grams", "千克", "克", 1000),
    ("litre", "litres", "millilitres", "升", "毫升", 1000), ("dozen", "dozen", "items", "打", "个", 12),
    ("century", "centuries", "years", "个世纪", "年", 100), ("decade", "decades", "years", "个十年", "年", 10),
]


def t_unit_fact(rng, lang):
    b1, bn, se, bz, sz, f = rng.choice(UNITS)
    n = rng.choice([1, 1, 1] + list(range(2, 16)))
    prog = f"count = {n}\nper_unit = {f}\nanswer = count * per_unit"
    if lang == "en":
        q = f"How many {se} are there in one {b1}?" if n == 1 else f"How many {se} are there in {n} {bn}?"
        ex = f"1 {b1} = {f} {se}, so {n} × {f} = {{ans}}."
    else:
        q = f"一{bz}有多少{sz}？" if n == 1 else f"{n}{bz}有多少{sz}？"
        ex = f"1{bz} = {f}{sz}，{n} × {f} = {{ans}}。"
    return numeric(lang, q, prog, ex)


COUNT_WORDS = ["banana", "strawberry", "apple", "elephant", "mississippi", "committee", "balloon", "bookkeeper",
               "coffee", "letter", "pepper", "success", "assessment", "giraffe", "parallel", "necessary", "occurrence",
               "address", "butterfly", "chocolate", "cinnamon", "engineer", "freedom", "grammar", "hippopotamus",
               "kangaroo", "library", "mammal", "noodle", "original", "possession", "raccoon", "sheep", "tomorrow",
               "umbrella", "volleyball", "watermelon", "yellow", "zucchini", "television", "accommodate", "beginning",
               "calendar", "difference", "embarrass", "bubble", "cucumber", "peppermint", "teeth", "referee"]


def t_letter_count(rng, lang):
    w = rng.choice(COUNT_WORDS)
    if rng.random() < 0.3:
        prog = f"word = \"{w}\"\nanswer = len(word)"
        en = (f"How many letters are in the word \"{w}\"?", f"\"{w}\" is spelled {'-'.join(w)}, which has {{ans}} letters.")
        zh = (f"英文单词“{w}”有多少个字母？", f"“{w}”拼写为{'-'.join(w)}，共{{ans}}个字母。")
    else:
        letters = sorted(set(w))
        c = rng.choice(letters) if rng.random() < 0.85 else rng.choice([x for x in "abcdefghijklmnopqrstuvwxyz" if x not in w])
        prog = f"word = \"{w}\"\nletter = \"{c}\"\nanswer = word.count(letter)"
        en = (f"How many times does the letter \"{c}\" appear in the word \"{w}\"?",
              f"Spelling \"{w}\" as {'-'.join(w)} and counting \"{c}\" gives {{ans}}.")
        zh = (f"英文单词“{w}”中字母“{c}”出现了几次？", f"把“{w}”拼写为{'-'.join(w)}，数出“{c}”共{{ans}}次。")
    q, ex = en if lang == "en" else zh
    return numeric(lang, q, prog, ex)


def t_sort_numbers(rng, lang):
    k = rng.randint(4, 7)
    nums = rng.sample(range(1, 200), k)
    desc = rng.random() < 0.4
    out = ", ".join(str(x) for x in sorted(nums, reverse=desc))
    shown = ", ".join(str(x) for x in nums)
    if lang == "en":
        q = f"Sort these numbers in {'descending' if desc else 'ascending'} order: {shown}"
    else:
        q = f"请将下列数字按{'从大到小' if desc else '从小到大'}排序（用英文逗号分隔）：{shown}"
    return gen(q, out)


def t_translation(rng, lang):
    en_w, zh_w = rng.choice(WORDS)
    to_zh = rng.random() < 0.5
    if lang == "en":
        if to_zh:
            return gen(rng.choice([f"Translate the English word \"{en_w}\" into Chinese.",
                                   f"What is \"{en_w}\" in Chinese?"]), zh_w)
        return gen(rng.choice([f"What is the English word for \"{zh_w}\"?",
                               f"Translate the Chinese word \"{zh_w}\" into English."]), en_w)
    if to_zh:
        return gen(rng.choice([f"英文单词“{en_w}”的中文意思是什么？", f"把英文“{en_w}”翻译成中文。"]), zh_w)
    return gen(rng.choice([f"把中文词“{zh_w}”翻译成英文。", f"“{zh_w}”用英文怎么说？"]), en_w)


def t_science_mc(rng, lang):
    qe, ae, dse, qz, az, dsz = rng.choice(SCIENCE)
    if lang == "en":
        return mc(lang, rng, qe, ae, dse)
    return mc(lang, rng, qz, az, dsz)


TASKS = [
    ("capital", t_capital),
    ("element_symbol", t_element_symbol),
    ("antonym", t_antonym),
    ("arithmetic_word", t_arithmetic_word),
    ("unit_fact", t_unit_fact),
    ("translation", t_translation),
    ("letter_count", t_letter_count),
    ("sort_numbers", t_sort_numbers),
    ("science_mc", t_science_mc),
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
