"""Interface strings in Chinese and English, and the language the locale asks for.

The interface speaks the same language as the question content: `ask --lang zh` shows Chinese
questions with Chinese buttons and messages.
"""

from __future__ import annotations

import os
from typing import Mapping

LANGUAGES = ("zh", "en")

MESSAGES: dict[str, dict[str, str]] = {
    "question_header": {"zh": "第 {index}/{total} 题 · {topic} · {difficulty} · {type}", "en": "Question {index}/{total} · {topic} · {difficulty} · {type}"},
    "type_open": {"zh": "简答", "en": "open"},
    "type_mcq": {"zh": "选择", "en": "choice"},
    "type_numeric": {"zh": "计算", "en": "numeric"},
    "difficulty_easy": {"zh": "易", "en": "easy"},
    "difficulty_medium": {"zh": "中", "en": "medium"},
    "difficulty_hard": {"zh": "难", "en": "hard"},
    "status_new": {"zh": "新题", "en": "new"},
    "status_due": {"zh": "复习", "en": "review"},
    "status_cram": {"zh": "突击", "en": "cram"},
    "answer_prompt": {"zh": "你的答案", "en": "Your answer"},
    "mcq_hint": {"zh": "输入字母，多选如 a,c；直接回车表示不会", "en": "type letters, several like a,c; Enter alone if you do not know"},
    "numeric_hint": {"zh": "输入数字，如 1050624、1,050,624、1.05e6 或 1.05M", "en": "type a number: 1050624, 1,050,624, 1.05e6 or 1.05M"},
    "open_hint": {"zh": "用一行写下你的答案，然后对照参考答案自评", "en": "write your answer on one line, then rate yourself against the reference"},
    "invalid_choice": {"zh": "请输入选项字母（{choices}），多选用逗号分隔", "en": "Please type choice letters ({choices}), several separated by commas"},
    "invalid_number": {"zh": "无法识别为数字：{text}", "en": "Not a number: {text}"},
    "invalid_rating": {"zh": "请输入 1-4 或 again/hard/good/easy", "en": "Please type 1-4 or again/hard/good/easy"},
    "correct": {"zh": "正确", "en": "Correct"},
    "wrong": {"zh": "错误", "en": "Wrong"},
    "expected": {"zh": "正确答案：{answer}", "en": "Answer: {answer}"},
    "tolerance": {"zh": "（允许相对误差 {tolerance}）", "en": " (relative tolerance {tolerance})"},
    "your_answer": {"zh": "你的回答：{text}", "en": "Your answer: {text}"},
    "reference": {"zh": "参考答案：{text}", "en": "Reference answer: {text}"},
    "key_points": {"zh": "要点（已覆盖 {covered}/{total}）", "en": "Key points (covered {covered}/{total})"},
    "explanation": {"zh": "解析：{text}", "en": "Explanation: {text}"},
    "source": {"zh": "出处：{source}", "en": "Source: {source}"},
    "rate_prompt": {"zh": "自评 (1-4)", "en": "Rate yourself (1-4)"},
    "rating_again": {"zh": "重来", "en": "Again"},
    "rating_hard": {"zh": "困难", "en": "Hard"},
    "rating_good": {"zh": "良好", "en": "Good"},
    "rating_easy": {"zh": "简单", "en": "Easy"},
    "comes_back": {"zh": "下次复习：{when}后", "en": "Comes back in {when}"},
    "not_rescheduled": {"zh": "突击模式：不改变复习计划", "en": "Cram mode: not rescheduled"},
    "nothing_due": {"zh": "现在没有到期或新的题目。{next}可用 --cram 随便练练。", "en": "Nothing is due and no new questions are left. {next}Use --cram to practise anyway."},
    "next_due": {"zh": "下一题将在{when}后到期。", "en": "The next one is due in {when}. "},
    "summary_title": {"zh": "本次小结", "en": "Session summary"},
    "summary_line": {"zh": "答题 {answered} 道，答对/记得 {recalled} 道（{percent}）", "en": "Answered {answered}, right or recalled {recalled} ({percent})"},
    "summary_ratings": {"zh": "重来 {again} · 困难 {hard} · 良好 {good} · 简单 {easy}", "en": "Again {again} · Hard {hard} · Good {good} · Easy {easy}"},
    "summary_saved": {"zh": "进度已保存到 {path}", "en": "Progress saved to {path}"},
    "summary_missed": {"zh": "答错的题：{ids}", "en": "Missed: {ids}"},
    "summary_none": {"zh": "本次没有作答。", "en": "No answers this time."},
    "questions_title": {"zh": "题库（{count} 题）", "en": "Question bank ({count} questions)"},
    "col_id": {"zh": "编号", "en": "id"},
    "col_topic": {"zh": "主题", "en": "topic"},
    "col_difficulty": {"zh": "难度", "en": "difficulty"},
    "col_type": {"zh": "题型", "en": "type"},
    "col_prompt": {"zh": "题目", "en": "prompt"},
    "col_mastery": {"zh": "掌握", "en": "mastery"},
    "col_learned": {"zh": "已掌握", "en": "learned"},
    "col_seen": {"zh": "已做", "en": "seen"},
    "col_accuracy": {"zh": "正确率", "en": "accuracy"},
    "stats_totals": {"zh": "共作答 {reviews} 次，正确率 {accuracy}；见过 {seen}/{questions} 题", "en": "{reviews} answers, {accuracy} right; {seen}/{questions} questions seen"},
    "stats_due": {"zh": "今天到期 {today} 题，本周 {week} 题", "en": "Due today: {today}; this week: {week}"},
    "stats_topics": {"zh": "各主题掌握情况（掌握 = 进入长期复习的题目占比）", "en": "Mastery by topic (share of questions in long-term review)"},
    "stats_leeches": {"zh": "顽固题（遗忘 {threshold} 次及以上，建议重读解析）：", "en": "Leeches (forgotten {threshold}+ times; reread the explanation):"},
    "stats_exercises": {"zh": "编程练习：", "en": "Exercises:"},
    "exercise_passed": {"zh": "  {id}：已通过（提交 {attempts} 次）", "en": "  {id}: passed ({attempts} attempts)"},
    "exercise_attempted": {"zh": "  {id}：未通过（提交 {attempts} 次）", "en": "  {id}: attempted ({attempts} attempts)"},
    "stats_exercise_totals": {"zh": "已通过 {passed}，未通过 {attempted}，未开始 {not_started}，共 {total}", "en": "{passed} passed, {attempted} attempted, {not_started} not started, of {total}"},
    "stats_best": {"zh": "最好：{best}", "en": "best: {best}"},
    # --- the practice loop (mhaquiz/practice.py, mhaquiz/interview.py) ---
    "ex_status_not started": {"zh": "未开始", "en": "not started"},
    "ex_status_attempted": {"zh": "未通过", "en": "attempted"},
    "ex_status_passed": {"zh": "已通过", "en": "passed"},
    "list_title": {"zh": "编程练习（按学习顺序）：已通过 {passed}，尝试中 {attempted}，共 {total}", "en": "Exercises in learning order: {passed} passed, {attempted} attempted, {total} in all"},
    "col_exercise": {"zh": "练习", "en": "exercise"},
    "col_title": {"zh": "标题", "en": "title"},
    "col_status": {"zh": "状态", "en": "status"},
    "col_best": {"zh": "最好成绩", "en": "best"},
    "col_hints": {"zh": "提示", "en": "hints"},
    "best_cases": {"zh": "{passed}/{total} 个用例（{date}）", "en": "{passed}/{total} cases ({date})"},
    "best_score": {"zh": "{score}（{date}）", "en": "{score} ({date})"},
    "list_next": {"zh": "下一步：mhaquiz start {id}", "en": "Next: mhaquiz start {id}"},
    "list_all_passed": {"zh": "全部通过！可以试试 mhaquiz interview。", "en": "All passed! Try mhaquiz interview."},
    "start_wrote": {"zh": "已写入 {path}。写完后运行：mhaquiz grade {path} --exercise {id}（或 mhaquiz watch {path}，保存即评分）。卡住了：mhaquiz hint {id}", "en": "Wrote {path}. When ready: mhaquiz grade {path} --exercise {id} (or mhaquiz watch {path} to re-grade on every save). Stuck? mhaquiz hint {id}"},
    "hint_header": {"zh": "{title} · 提示 {shown}/{total}", "en": "{title} · hint {shown} of {total}"},
    "hint_none_left": {"zh": "没有更多提示了（{total} 条已全部显示）。", "en": "No more hints: all {total} are shown above."},
    "hint_more_left": {"zh": "还有 {left} 条提示：再次运行 mhaquiz hint {id}", "en": "{left} more: run mhaquiz hint {id} again"},
    "hint_no_hints": {"zh": "这个练习没有提示。", "en": "This exercise has no hints."},
    "solution_header": {"zh": "{title} 的参考答案（{path}）", "en": "Reference solution for {title} ({path})"},
    "solution_confirm": {"zh": "你还没有通过 {id}。现在看答案会失去练习的意义。仍然显示吗？", "en": "You have not passed {id} yet; seeing the reference now spoils the exercise. Show it anyway?"},
    "reset_confirm": {"zh": "用原始模板覆盖 {path}？你在里面写的代码会丢失。", "en": "Overwrite {path} with the original stub? What you wrote in it will be lost."},
    "reset_done": {"zh": "已把 {path} 恢复为模板，并重置提示进度（评分记录保留）。", "en": "Rewrote {path} with the stub and reset the hints shown (your grade history is kept)."},
    "cancelled": {"zh": "已取消，未做任何改动。", "en": "Cancelled; nothing changed."},
    "watch_watching": {"zh": "正在监视 {path}：每次保存都会重新评分。按 Ctrl-C 结束。", "en": "Watching {path}: re-graded on every save. Ctrl-C to stop."},
    "watch_missing": {"zh": "{path} 暂时不存在，等待它重新出现……", "en": "{path} does not exist right now; waiting for it to reappear..."},
    "watch_regrading": {"zh": "—— {time} 重新评分 {path} ——", "en": "--- {time} re-grading {path} ---"},
    "iv_title": {"zh": "模拟面试", "en": "Mock interview"},
    "iv_intro": {"zh": "{questions} 道概念题，然后 1 道编程题，共 {minutes} 分钟。计时开始。", "en": "{questions} conceptual questions, then one coding exercise, {minutes} minutes in all. The clock is running."},
    "iv_time_up_questions": {"zh": "概念题时间到。", "en": "Time is up for the questions."},
    "iv_coding": {"zh": "编程题：{title}", "en": "Coding: {title}"},
    "iv_file": {"zh": "模板已写入 {path}。在编辑器里完成它，然后在这里输入 done 并回车（剩余时间 {left}）。", "en": "The stub is in {path}. Complete it in your editor, then type done and press Enter here ({left} left)."},
    "iv_done_prompt": {"zh": "完成后输入 done", "en": "Type done when finished"},
    "iv_time_up": {"zh": "时间到！按现在的文件评分。", "en": "Time is up! Grading the file as it is."},
    "iv_summary_title": {"zh": "面试小结", "en": "Interview summary"},
    "iv_summary_questions": {"zh": "概念题：答对 {right}/{asked}（共 {planned} 道）", "en": "Questions: {right}/{asked} right ({planned} planned)"},
    "iv_summary_exercise": {"zh": "编程题 {id}：{verdict}，通过 {passed}/{total} 个用例", "en": "Exercise {id}: {verdict}, {passed}/{total} cases passed"},
    "iv_summary_time": {"zh": "用时 {used} / 限时 {allowed}{over}", "en": "Time: {used} of {allowed}{over}"},
    "iv_over_time": {"zh": "（超时）", "en": " (over time)"},
    "iv_summary_score": {"zh": "得分：{score}/100（概念题 {q_points}/{q_max}，编程题 {e_points}/{e_max}）", "en": "Score: {score}/100 (questions {q_points}/{q_max}, coding {e_points}/{e_max})"},
    "iv_not_rescheduled": {"zh": "概念题按突击模式记录：不改变复习计划。", "en": "Questions were recorded as cram: your review schedule is unchanged."},
    "unit_minute": {"zh": "{n}分钟", "en": "{n}m"},
    "unit_hour": {"zh": "{n}小时", "en": "{n}h"},
    "unit_day": {"zh": "{n}天", "en": "{n}d"},
    "unit_month": {"zh": "{n}个月", "en": "{n}mo"},
    "unit_year": {"zh": "{n}年", "en": "{n}y"},
}


def t(key: str, lang: str, **values: object) -> str:
    """The interface string `key` in `lang`, with `{name}` placeholders filled from `values`."""
    text = MESSAGES[key][lang]
    return text.format(**values) if values else text


def locale_language(environ: Mapping[str, str] | None = None) -> str:
    """'zh' when the locale is Chinese (zh_CN, zh_TW.UTF-8, ...), else 'en'.

    Follows POSIX precedence for messages: the first non-empty of LC_ALL, LC_MESSAGES, LANG.
    """
    environ = os.environ if environ is None else environ
    for variable in ("LC_ALL", "LC_MESSAGES", "LANG"):
        value = environ.get(variable)
        if value:
            return "zh" if value.lower().startswith("zh") else "en"
    return "en"


def format_interval(seconds: float, lang: str) -> str:
    """A wait as a person says it: 10m, 3h, 4d, 2mo, 1.5y (分钟/小时/天/个月/年 in Chinese)."""
    minutes = seconds / 60
    if minutes < 60:
        return t("unit_minute", lang, n=max(1, round(minutes)))
    if minutes < 24 * 60:
        return t("unit_hour", lang, n=round(minutes / 60))
    days = minutes / (24 * 60)
    if days < 30:
        return t("unit_day", lang, n=round(days))
    if days < 365:
        return t("unit_month", lang, n=round(days / 30))
    return t("unit_year", lang, n=f"{days / 365:.1f}".rstrip("0").rstrip("."))
