"""Words of the reports in zh-CN and English: headings, labels and the names of codes (rules, states, flags)."""

from __future__ import annotations

from typing import Literal

Locale = Literal["zh-CN", "en"]
LOCALES: tuple[str, ...] = ("zh-CN", "en")

_LABELS: dict[str, tuple[str, str]] = {
    "title": ("在线监测超标检查报告", "Online monitoring inspection report"),
    "draft": ("草稿", "Draft"),
    "final": ("终稿", "Final"),
    "version": ("版本", "Version"),
    "generated": ("生成时间", "Generated"),
    "alert_code": ("告警编号", "Alert code"),
    "times_in": ("时间均为", "Times are in"),
    "summary": ("事件摘要", "What happened"),
    "plant": ("企业信息", "The plant"),
    "name": ("企业名称", "Name"),
    "address": ("地址", "Address"),
    "district": ("所属区", "District"),
    "industry": ("行业", "Industry"),
    "permit": ("排污许可证编号", "Discharge permit"),
    "eia": ("环评批复", "EIA approval"),
    "notes": ("备注", "Notes"),
    "contacts": ("联系人", "Contacts"),
    "point": ("监测点位", "Monitoring point"),
    "device": ("监测设备", "Device"),
    "mn": ("设备编码 (MN)", "Device code (MN)"),
    "model": ("型号", "Model"),
    "last_calibration": ("最近校准", "Last calibration"),
    "interval": ("上报间隔", "Reporting interval"),
    "event": ("超标事件", "The event"),
    "pollutant": ("监测因子", "Pollutant"),
    "limit": ("执行限值", "Applicable limit"),
    "legal_source": ("限值依据", "Legal source"),
    "limit_basis": ("限值考核方式", "Limit applies to"),
    "alert_basis": ("告警判定依据", "Alert judged on"),
    "first_breach": ("首次超标时间", "First breach"),
    "peak": ("峰值", "Peak value"),
    "peak_time": ("峰值时间", "Peak time"),
    "duration": ("持续时间", "Duration"),
    "duration_so_far": ("持续时间(截至目前)", "Duration so far"),
    "multiple": ("超标倍数 (C-L)/L", "Exceedance multiple (C-L)/L"),
    "ratio": ("浓度与限值之比 C/L", "Value / limit C/L"),
    "state": ("当前状态", "Current state"),
    "severity": ("级别", "Severity"),
    "warning_line": ("预警线", "Warning line"),
    "limit_line": ("限值", "Limit"),
    "severe_line": ("严重超标线", "Severe line"),
    "chart": ("近 24 小时浓度曲线", "Last 24 hours"),
    "chart_note": (
        "分钟均值(仅有效数据);底部色块为异常标记,竖虚线为首次超标时间。",
        "Minute means of valid data; coloured marks below are flagged data, the dashed line is the first breach.",
    ),
    "co_measured": ("同步监测因子", "Co-measured parameters"),
    "min": ("最小", "Min"),
    "max": ("最大", "Max"),
    "mean": ("均值", "Mean"),
    "last": ("最新", "Latest"),
    "unit": ("单位", "Unit"),
    "trend": ("趋势", "Trend"),
    "hours": ("小时均值", "Hourly averages"),
    "hour": ("时段", "Hour"),
    "samples": ("样本数", "Samples"),
    "valid_samples": ("有效数", "Valid"),
    "flag": ("标记", "Flag"),
    "validity": ("有效性", "Validity"),
    "valid": ("有效", "valid"),
    "invalid": ("无效", "invalid"),
    "over_limit": ("超标", "over limit"),
    "quality": ("近 7 日数据质量", "Data quality, last 7 days"),
    "day": ("日期", "Day"),
    "expected": ("应传", "Expected"),
    "received": ("实传", "Received"),
    "transmission_rate": ("传输率", "Transmission rate"),
    "validity_rate": ("有效率", "Validity rate"),
    "total": ("合计", "Total"),
    "flags_seen": ("数据标记统计", "Flags received"),
    "history": ("企业历史告警及处置", "Earlier alerts and dispositions"),
    "opened": ("发生时间", "Opened"),
    "disposition": ("处置结论", "Disposition"),
    "none": ("无", "None"),
    "enforcement": ("执法记录", "Enforcement notes"),
    "notifications": ("通知记录", "Notification log"),
    "recipient": ("接收人", "Recipient"),
    "phone": ("电话", "Phone"),
    "reason": ("原因", "Reason"),
    "status": ("状态", "Status"),
    "sent": ("发送时间", "Sent"),
    "event_log": ("状态变更", "State changes"),
    "time": ("时间", "Time"),
    "actor": ("操作者", "By"),
    "acknowledged": ("确认", "Acknowledged"),
    "checks": ("建议现场检查事项", "Recommended on-site checks"),
    "signature": ("现场检查签字", "Signatures"),
    "inspector": ("检查人员", "Inspector"),
    "plant_rep": ("企业负责人", "Plant representative"),
    "date": ("日期", "Date"),
    "findings": ("检查结论", "Findings"),
    "page": ("第 {page} 页 / 共 {pages} 页", "Page {page} of {pages}"),
    "disclaimer": (
        "本报告由 envmon 根据在线监测数据自动生成,数据以有效数据为准,供现场检查参考。",
        "Generated automatically by envmon from online monitoring data, for on-site inspection.",
    ),
    "no_limit": ("未配置限值", "No limit configured"),
    "times": ("倍", "x"),
}

_CODES: dict[str, dict[str, tuple[str, str]]] = {
    "rule": {
        "instant": ("实时值", "instantaneous value"),
        "hour_avg": ("小时均值", "hourly average"),
        "day_avg": ("日均值", "daily average"),
        "gas": ("气体报警", "gas alarm"),
        "flag": ("设备异常标记", "device flag"),
        "silent": ("设备无数据", "silent device"),
        "zero_flow": ("浓度为零而流量不为零", "zero concentration with flow"),
        "constant": ("数值长时间不变", "constant value"),
        "negative": ("负值", "negative value"),
        "seq_gap": ("数据缺失", "missing messages"),
    },
    "basis": {
        "instant": ("实时值", "instantaneous value"),
        "hour": ("小时均值", "hourly average"),
        "day": ("日均值", "daily average"),
    },
    "severity": {
        "warning": ("预警", "warning"),
        "exceedance": ("超标", "exceedance"),
        "severe": ("严重超标", "severe exceedance"),
        "level1": ("一级报警", "level 1 alarm"),
        "level2": ("二级报警", "level 2 alarm"),
        "fault": ("设备故障", "device fault"),
    },
    "state": {
        "open": ("未确认", "open"),
        "escalated": ("已升级", "escalated"),
        "acknowledged": ("已确认", "acknowledged"),
        "resolved": ("已恢复", "resolved"),
        "closed": ("已关闭", "closed"),
    },
    "disposition": {
        "confirmed": ("确认超标", "confirmed"),
        "false_alarm": ("误报", "false alarm"),
        "device_fault": ("设备故障", "device fault"),
        "enforcement_case": ("已立案", "enforcement case"),
    },
    "industry": {
        "electroplating": ("电镀", "electroplating"),
        "lead_acid_battery": ("铅蓄电池", "lead-acid battery"),
        "chemical": ("化工", "chemical"),
        "pharmaceutical": ("制药", "pharmaceutical"),
        "printing_dyeing": ("印染", "printing and dyeing"),
        "smelting": ("冶炼", "smelting"),
        "other": ("其他", "other"),
    },
    "flag": {
        "N": ("正常", "normal"),
        "F": ("停运", "stopped"),
        "M": ("维护", "maintenance"),
        "S": ("手工设定", "set manually"),
        "D": ("故障", "fault"),
        "C": ("校准", "calibration"),
        "T": ("超量程", "over range"),
        "B": ("通讯异常", "communication fault"),
    },
    "status": {
        "pending": ("待发送", "pending"),
        "sending": ("发送中", "sending"),
        "sent": ("已发送", "sent"),
        "delivered": ("已送达", "delivered"),
        "failed": ("失败", "failed"),
        "undelivered": ("未送达", "undelivered"),
        "suppressed": ("已抑制", "suppressed"),
    },
    "reason": {
        "open": ("告警", "alert"),
        "escalation": ("升级", "escalation"),
        "reminder": ("提醒", "reminder"),
        "resolved": ("恢复", "resolved"),
        "severity": ("级别变化", "severity change"),
    },
}


def labels(locale: str) -> dict[str, str]:
    """Every label in one locale (zh-CN or en)."""
    i = 0 if locale == "zh-CN" else 1
    return {key: pair[i] for key, pair in _LABELS.items()}


def name_of(kind: str, code: str | None, locale: str) -> str:
    """The name of a code (rule, basis, severity, state, disposition, industry, flag, status, reason)."""
    if code is None:
        return ""
    pair = _CODES.get(kind, {}).get(code)
    if pair is None:
        return code
    return pair[0] if locale == "zh-CN" else pair[1]
