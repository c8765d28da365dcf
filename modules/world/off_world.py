"""Questions outside the built-in world, from a grammar (topics, forms, whole questions, sums and made-up words),
and the honest short answer that every one of them gets, in the question's language."""
from __future__ import annotations

import random

from .exchange import Exchange
from .phrasing import Part, worded
from .wordings import KEY_WORDS

OUT_OF_WORLD_ANSWER = {
    "en": "I am the small built-in model and I only know this studio's world of coloured shapes and simple sounds. "
          "For other questions, start the studio with a hub profile, for example --profile hub-cpu.",
    "zh": "我是小型内置模型，只了解这个工作室里的彩色图形和简单声音。其他问题请用 hub 配置启动工作室，例如 --profile hub-cpu。",
}
# Things people ask about that the world does not hold. None names a colour, a shape, a place, a sound or the studio
# (tests/test_phrasing.py checks it), so that a question is refused for what it asks about, not for its form.
OUT_TOPICS = {
    "en": Part("en/out topic", (
        "the capital of France", "the weather tomorrow", "quantum physics", "the stock market", "the history of Rome",
        "python decorators", "the meaning of life", "football results", "a recipe for pasta", "the population of Tokyo",
        "black holes", "the best movie of the year", "how to fix my car", "the tallest mountain",
        "machine translation", "poetry", "the price of bitcoin", "my homework", "the moon landing",
        "the French revolution", "chess openings", "baking bread", "the speed of light", "the Second World War",
        "javascript promises", "the rules of tennis", "climate change", "tax returns", "hotels in Paris",
        "dinosaurs", "the plot of Hamlet", "vaccines", "the news today", "my horoscope", "learning Spanish",
        "the economy of Germany", "sorting algorithms", "the Olympic games", "healthy breakfasts", "volcanoes",
        "elephants", "my taxes", "the capital of Germany", "pancakes", "the Roman empire", "electric cars",
        "the human heart", "photosynthesis", "the Eiffel Tower", "Shakespeare", "Napoleon", "the Great Wall",
        "cats and dogs", "coffee", "herbal tea", "my wedding", "a job interview", "the train to Berlin",
        "the flu", "a headache", "my garden", "tomatoes", "the price of gold", "interest rates", "my rent",
        "the internet", "smartphones", "linux", "a broken laptop", "the election", "the Amazon river",
        "the ocean", "sharks", "earthquakes", "the solar system", "Mars", "the dentist", "yoga", "running shoes",
        "a birthday present", "my cousin", "the train timetable", "flights to Tokyo", "the museum", "jazz",
        "the guitar", "the piano", "Mozart", "basketball", "the World Cup", "a good restaurant", "sushi",
        "chocolate cake", "the rainforest", "honey bees", "the Nile", "ancient Egypt", "the Cold War",
        "the stock price of Apple", "a mortgage", "my email", "the printer", "the wifi password",
        "the theory of relativity", "DNA", "the periodic table", "calculus", "the Pythagorean theorem",
        "the English grammar", "French verbs", "my essay", "a cover letter", "the holidays", "Christmas",
        "the Chinese new year", "the marathon", "dieting", "sleep", "my back pain", "the traffic",
        "the bus to the airport", "parking", "the Moon", "the planets", "rockets", "airplanes", "the Titanic")),
    "zh": Part("zh/out topic", (
        "法国的首都", "明天的天气", "量子物理", "股票市场", "罗马的历史", "Python装饰器", "人生的意义", "足球比赛",
        "意大利面的做法", "东京的人口", "黑洞", "今年最好的电影", "怎么修车", "最高的山", "诗歌", "比特币的价格", "我的作业",
        "登月", "法国大革命", "国际象棋开局", "怎么烤面包", "光速", "第二次世界大战", "网球规则", "气候变化", "报税",
        "巴黎的酒店", "恐龙", "哈姆雷特的情节", "疫苗", "今天的新闻", "星座运势", "学西班牙语", "德国的经济", "排序算法",
        "奥运会", "健康的早餐", "火山", "大象", "红烧肉的做法", "北京", "长城", "故宫", "熊猫", "高铁票", "房价", "汇率",
        "美食", "咖啡", "绿茶", "饺子", "火锅", "月饼", "春节", "中秋节", "高考", "考研", "英语语法", "唐诗", "李白",
        "孔子", "三国演义", "红楼梦", "太阳系", "火星", "地震", "台风", "海洋", "鲨鱼", "猫和狗", "养花", "减肥", "跑步",
        "失眠", "感冒", "头疼", "牙医", "手机", "电脑", "网络", "微信", "打印机", "无线密码", "电动车", "飞机", "火车",
        "机票", "地铁", "签证", "护照", "工作面试", "简历", "工资", "房租", "保险", "银行卡", "黄金的价格", "基金",
        "篮球", "乒乓球", "世界杯", "钢琴", "吉他", "京剧", "电视剧", "明星", "结婚", "生日礼物", "宠物", "天气预报")),
}
OUT_FORMS = {
    "en": Part("en/out form", (
        "tell me about {t}", "what do you know about {t}?", "can you explain {t}?", "what is {t}?",
        "write an essay on {t}", "I have a question about {t}", "explain {t} to me", "do you know anything about {t}?",
        "give me some information on {t}", "I need help with {t}", "what can you tell me about {t}?",
        "teach me about {t}", "let's talk about {t}", "summarise {t} for me", "I'm curious about {t}",
        "what's {t}?", "what's up with {t}?", "can you help me with {t}?", "help me with {t}",
        "could you look up {t}?", "search for {t}", "any news about {t}?", "why is {t} so expensive?",
        "how does {t} work?", "who invented {t}?", "where can I find {t}?", "is {t} good for me?",
        "I want to learn about {t}", "what do you think of {t}?", "do you like {t}?", "write a poem about {t}",
        "give me three facts about {t}", "how much does {t} cost?", "what's the deal with {t}?",
        "compare {t} with what came before it", "give me a summary of {t}", "what should I know about {t}?",
        "tell me something about {t}", "google {t}", "research {t} for me", "is {t} worth it?",
        "what happened to {t}?", "any tips on {t}?", "how do I deal with {t}?")),
    "zh": Part("zh/out form", (
        "告诉我关于{t}的事", "你了解{t}吗？", "能解释一下{t}吗？", "{t}是什么？", "写一篇关于{t}的文章",
        "我有一个关于{t}的问题", "给我讲讲{t}", "你知道{t}吗？", "说说{t}", "我想了解{t}", "帮我查一下{t}",
        "介绍一下{t}", "聊聊{t}吧", "{t}怎么样？", "你觉得{t}怎么样？", "{t}有什么推荐吗？", "关于{t}你知道什么？",
        "帮我搜一下{t}", "{t}是怎么回事？", "为什么{t}这么贵？", "你喜欢{t}吗？", "写一首关于{t}的诗",
        "给我三个关于{t}的知识", "{t}多少钱？", "{t}值得吗？", "我想学{t}", "{t}有什么好处？", "教教我{t}",
        "能帮我处理{t}吗？", "{t}的最新消息", "总结一下{t}", "怎么看待{t}？")),
}
OUT_QUESTIONS = {
    "en": Part("en/out question", (
        "who won the world cup?", "what time is it?", "translate hello into French", "what is 17 times 23?",
        "write me a poem", "tell me a joke", "how old is the universe?", "who is the president of the USA?",
        "what should I cook tonight?", "recommend a good book", "how do I learn to code?",
        "what is the best phone to buy?", "book me a flight to London", "how far away is the sun?",
        "write a song about love", "who wrote Hamlet?", "how do I make pancakes?", "what day is it today?",
        "will it rain tomorrow?", "how do I install numpy?", "write a haiku about autumn", "who are you voting for?",
        "how tall is Mount Everest?", "where is Paris?", "how many people live in China?",
        "what's the weather like in Berlin?", "can you order me a pizza?", "set an alarm for 7 am",
        "call my mother", "play some music", "what's the latest news?", "how do I lose weight?",
        "what is love?", "do you dream?", "are you alive?", "what year is it?", "how do I cook rice?",
        "send an email to my boss", "translate this into German", "what's the best programming language?",
        "how do vaccines work?", "why do cats purr?", "what is the root of 144?")),
    "zh": Part("zh/out question", (
        "谁赢了世界杯？", "现在几点了？", "把你好翻译成法语", "17乘以23等于多少？", "给我写一首诗", "讲个笑话", "宇宙有多少岁了？",
        "美国总统是谁？", "今晚吃什么好？", "推荐一本好书", "怎么学编程？", "买什么手机最好？", "帮我订一张去伦敦的机票",
        "太阳离我们有多远？", "写一首关于爱情的歌", "北京是哪个国家的首都？", "你喜欢吃什么？", "请帮我写一封邮件",
        "明天会下雨吗？", "怎么做红烧肉？", "今天星期几？", "珠穆朗玛峰有多高？", "中国有多少人？", "为什么天是蓝的？",
        "帮我点个外卖", "定一个早上七点的闹钟", "给我妈妈打电话", "放点音乐", "怎么减肥？", "什么是爱情？",
        "你会做梦吗？", "你是活的吗？", "今年是哪一年？", "米饭怎么煮？", "帮我给老板发封邮件", "哪种编程语言最好？",
        "疫苗是怎么起作用的？", "猫为什么会打呼噜？", "144的平方根是多少？", "李白是谁？", "周末去哪儿玩？")),
}
SUM_FORMS = {
    "en": Part("en/out sum", ("what is {a} plus {b}?", "what's {a}+{b}?", "so {a} + {b} equals?", "what is {a} times {b}?",
                              "calculate {a} minus {b}", "how much is {a} times {b}?", "what's {a} divided by {b}?",
                              "add {a} and {b}")),
    "zh": Part("zh/out sum", ("{a}加{b}等于多少？", "{a}+{b}等于几？", "{a}乘以{b}是多少？", "算一下{a}减{b}", "{a}除以{b}等于几？",
                              "{a}加{b}是几？", "帮我算{a}乘{b}")),
}
# Made-up words for made-up topics: a question about a thing the model has never heard of is outside the world too.
SYLLABLES_EN = ("ba", "ko", "ri", "zen", "mu", "tal", "vo", "sha", "pli", "dor", "nex", "qui", "fra", "lum", "tro",
                "gal", "pe", "wik", "sor", "yan")
SYLLABLES_ZH = "阿波克达伊法格哈吉卡拉马纳欧帕奇萨塔乌瓦希亚扎"
MADE_UP_SHARE = 0.12          # of the questions asked with a topic
SUM_SHARE = 0.12              # of all out-of-world questions
WHOLE_SHARE = 0.3             # of the rest: a whole question rather than a topic in a form


def made_up_topic(rng: random.Random, lang: str) -> str:
    """A thing that does not exist, named as a person would name it ("the zenmuko", "阿卡达")."""
    if lang == "en":
        word = "".join(rng.choice(SYLLABLES_EN) for _ in range(rng.randint(2, 3)))
        return rng.choice([word, f"the {word}", f"{word.capitalize()}", f"a {word}"])
    return "".join(rng.choice(SYLLABLES_ZH) for _ in range(rng.randint(2, 4)))


def out_of_world_exchange(rng: random.Random, lang: str, held_out: bool = False) -> Exchange:
    """A question outside the world (a topic in a form, a whole question, or a sum), in a greeting and polite
    frame, with the honest short answer; held_out as picture_question's."""
    pick = rng.random()
    if pick < SUM_SHARE:
        numbers = {"a": str(rng.randint(2, 99)), "b": str(rng.randint(2, 99))}
        wording = worded(SUM_FORMS[lang], numbers, lang, rng, held_out, KEY_WORDS)
    elif pick < SUM_SHARE + (1 - SUM_SHARE) * WHOLE_SHARE:
        wording = worded(OUT_QUESTIONS[lang], {}, lang, rng, held_out, KEY_WORDS)
    elif rng.random() < MADE_UP_SHARE:
        wording = worded(OUT_FORMS[lang], {"t": made_up_topic(rng, lang)}, lang, rng, held_out, KEY_WORDS)
    else:
        wording = worded(OUT_FORMS[lang], {"t": OUT_TOPICS[lang]}, lang, rng, held_out, KEY_WORDS)
    return Exchange(wording.text, OUT_OF_WORLD_ANSWER[lang], lang, kind="out of world", wording=wording.parts)
