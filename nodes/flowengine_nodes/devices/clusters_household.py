"""Attribute and command tables of the household's clusters, as zigbee-herdsman 10.9.5 defines them.

Printed by ``tests/nodes/decode/oracle/dump_tables.js`` from the reference package (do not edit by
hand). ``ATTRIBUTES[cluster][attribute id]`` lists the named attributes with that id (several when
manufacturer-specific ones share it); zigbee-herdsman 10.x's ``attributeKeyValue`` validates a
reported value against its attribute (``processAttributePostRead``): an invalid sentinel becomes
NaN, a value outside ``min``/``max``/``maxLen`` drops the attribute. ``COMMANDS_26`` are the
cluster-specific commands of those clusters in the layout of :mod:`flowengine_nodes.devices.clusters`.
"""

# ruff: noqa: E501  (generated tables, one command per line)

from typing import Any, NamedTuple

_Commands = dict[int, tuple[str, tuple[Any, ...]]]
_Table = dict[int, tuple[_Commands, _Commands]]


class Attribute(NamedTuple):
    """One named attribute: what ``processAttributePostRead`` checks."""

    name: str
    type: int
    manufacturer_code: int | None
    default: Any
    special: tuple[str, ...]
    min: int | None
    max: int | None
    min_exclusive: int | None
    max_exclusive: int | None
    length: int | None
    min_length: int | None
    max_length: int | None


# fmt: off
ATTRIBUTES: dict[int, dict[int, tuple[Attribute, ...]]] = {
    0: {  # genBasic
        0: (Attribute("zclVersion", 32, None, 8, (), None, 255, None, None, None, None, None),),
        1: (Attribute("appVersion", 32, None, 0, (), None, 255, None, None, None, None, None),),
        2: (Attribute("stackVersion", 32, None, 0, (), None, 255, None, None, None, None, None),),
        3: (Attribute("hwVersion", 32, None, 0, (), None, 255, None, None, None, None, None),),
        4: (Attribute("manufacturerName", 66, None, "", (), None, None, None, None, None, None, 32),),
        5: (Attribute("modelId", 66, None, "", (), None, None, None, None, None, None, 32),),
        6: (Attribute("dateCode", 66, None, "", (), None, None, None, None, None, None, 16),),
        7: (Attribute("powerSource", 48, None, 255, (), None, None, None, None, None, None, None),),
        8: (Attribute("genericDeviceClass", 48, None, 255, (), None, None, None, None, None, None, None),),
        9: (Attribute("genericDeviceType", 48, None, 255, (), None, None, None, None, None, None, None),),
        10: (Attribute("productCode", 65, None, "", (), None, None, None, None, None, None, None),),
        11: (Attribute("productUrl", 66, None, "", (), None, None, None, None, None, None, None),),
        12: (Attribute("manufacturerVersionDetails", 66, None, "", (), None, None, None, None, None, None, None),),
        13: (Attribute("serialNumber", 66, None, "", (), None, None, None, None, None, None, None),),
        14: (Attribute("productLabel", 66, None, "", (), None, None, None, None, None, None, None),),
        16: (Attribute("locationDesc", 66, None, "", (), None, None, None, None, None, None, 16),),
        17: (Attribute("physicalEnv", 48, None, 0, (), None, None, None, None, None, None, None),),
        18: (Attribute("deviceEnabled", 16, None, 1, (), None, None, None, None, None, None, None),),
        19: (Attribute("alarmMask", 24, None, 0, (), None, None, None, None, None, None, None),),
        20: (Attribute("disableLocalConfig", 24, None, 0, (), None, None, None, None, None, None, None),),
        16384: (Attribute("swBuildId", 66, None, "", (), None, None, None, None, None, None, 16),),
    },
    1: {  # genPowerCfg
        0: (Attribute("mainsVoltage", 33, None, None, (), None, 65535, None, None, None, None, None),),
        1: (Attribute("mainsFrequency", 32, None, None, (), None, 255, None, None, None, None, None),),
        16: (Attribute("mainsAlarmMask", 24, None, 0, (), None, None, None, None, None, None, None),),
        17: (Attribute("mainsVoltMinThres", 33, None, 0, (), None, 65535, None, None, None, None, None),),
        18: (Attribute("mainsVoltMaxThres", 33, None, 65535, (), None, 65535, None, None, None, None, None),),
        19: (Attribute("mainsVoltageDwellTripPoint", 33, None, 0, (), None, 65535, None, None, None, None, None),),
        32: (Attribute("batteryVoltage", 32, None, None, (), None, 255, None, None, None, None, None),),
        33: (Attribute("batteryPercentageRemaining", 32, None, 0, (), None, 255, None, None, None, None, None),),
        48: (Attribute("batteryManufacturer", 66, None, "", (), None, None, None, None, None, None, 16),),
        49: (Attribute("batterySize", 48, None, 255, (), None, None, None, None, None, None, None),),
        50: (Attribute("batteryAHrRating", 33, None, None, (), None, 65535, None, None, None, None, None),),
        51: (Attribute("batteryQuantity", 32, None, None, (), None, 255, None, None, None, None, None),),
        52: (Attribute("batteryRatedVoltage", 32, None, None, (), None, 255, None, None, None, None, None),),
        53: (Attribute("batteryAlarmMask", 24, None, 0, (), None, None, None, None, None, None, None),),
        54: (Attribute("batteryVoltMinThres", 32, None, 0, (), None, 255, None, None, None, None, None),),
        55: (Attribute("batteryVoltThres1", 32, None, 0, (), None, 255, None, None, None, None, None),),
        56: (Attribute("batteryVoltThres2", 32, None, 0, (), None, 255, None, None, None, None, None),),
        57: (Attribute("batteryVoltThres3", 32, None, 0, (), None, 255, None, None, None, None, None),),
        58: (Attribute("batteryPercentMinThres", 32, None, 0, (), None, 255, None, None, None, None, None),),
        59: (Attribute("batteryPercentThres1", 32, None, 0, (), None, 255, None, None, None, None, None),),
        60: (Attribute("batteryPercentThres2", 32, None, 0, (), None, 255, None, None, None, None, None),),
        61: (Attribute("batteryPercentThres3", 32, None, 0, (), None, 255, None, None, None, None, None),),
        62: (Attribute("batteryAlarmState", 27, None, 0, (), None, None, None, None, None, None, None),),
        64: (Attribute("battery2Voltage", 32, None, None, (), None, 255, None, None, None, None, None),),
        65: (Attribute("battery2PercentageRemaining", 32, None, 0, (), None, 255, None, None, None, None, None),),
        80: (Attribute("battery2Manufacturer", 66, None, "", (), None, None, None, None, None, None, 16),),
        81: (Attribute("battery2Size", 48, None, 255, (), None, None, None, None, None, None, None),),
        82: (Attribute("battery2AHrRating", 33, None, None, (), None, 65535, None, None, None, None, None),),
        83: (Attribute("battery2Quantity", 32, None, None, (), None, 255, None, None, None, None, None),),
        84: (Attribute("battery2RatedVoltage", 32, None, None, (), None, 255, None, None, None, None, None),),
        85: (Attribute("battery2AlarmMask", 24, None, 0, (), None, None, None, None, None, None, None),),
        86: (Attribute("battery2VoltageMinThreshold", 32, None, 0, (), None, 255, None, None, None, None, None),),
        87: (Attribute("battery2VoltageThreshold1", 32, None, 0, (), None, 255, None, None, None, None, None),),
        88: (Attribute("battery2VoltageThreshold2", 32, None, 0, (), None, 255, None, None, None, None, None),),
        89: (Attribute("battery2VoltageThreshold3", 32, None, 0, (), None, 255, None, None, None, None, None),),
        90: (Attribute("battery2PercentageMinThreshold", 32, None, 0, (), None, 255, None, None, None, None, None),),
        91: (Attribute("battery2PercentageThreshold1", 32, None, 0, (), None, 255, None, None, None, None, None),),
        92: (Attribute("battery2PercentageThreshold2", 32, None, 0, (), None, 255, None, None, None, None, None),),
        93: (Attribute("battery2PercentageThreshold3", 32, None, 0, (), None, 255, None, None, None, None, None),),
        94: (Attribute("battery2AlarmState", 27, None, 0, (), None, None, None, None, None, None, None),),
        96: (Attribute("battery3Voltage", 32, None, None, (), None, 255, None, None, None, None, None),),
        97: (Attribute("battery3PercentageRemaining", 32, None, 0, (), None, 255, None, None, None, None, None),),
        112: (Attribute("battery3Manufacturer", 66, None, "", (), None, None, None, None, None, None, 16),),
        113: (Attribute("battery3Size", 48, None, 255, (), None, None, None, None, None, None, None),),
        114: (Attribute("battery3AHrRating", 33, None, None, (), None, 65535, None, None, None, None, None),),
        115: (Attribute("battery3Quantity", 32, None, None, (), None, 255, None, None, None, None, None),),
        116: (Attribute("battery3RatedVoltage", 32, None, None, (), None, 255, None, None, None, None, None),),
        117: (Attribute("battery3AlarmMask", 24, None, 0, (), None, None, None, None, None, None, None),),
        118: (Attribute("battery3VoltageMinThreshold", 32, None, 0, (), None, 255, None, None, None, None, None),),
        119: (Attribute("battery3VoltageThreshold1", 32, None, 0, (), None, 255, None, None, None, None, None),),
        120: (Attribute("battery3VoltageThreshold2", 32, None, 0, (), None, 255, None, None, None, None, None),),
        121: (Attribute("battery3VoltageThreshold3", 32, None, 0, (), None, 255, None, None, None, None, None),),
        122: (Attribute("battery3PercentageMinThreshold", 32, None, 0, (), None, 255, None, None, None, None, None),),
        123: (Attribute("battery3PercentageThreshold1", 32, None, 0, (), None, 255, None, None, None, None, None),),
        124: (Attribute("battery3PercentageThreshold2", 32, None, 0, (), None, 255, None, None, None, None, None),),
        125: (Attribute("battery3PercentageThreshold3", 32, None, 0, (), None, 255, None, None, None, None, None),),
        126: (Attribute("battery3AlarmState", 27, None, 0, (), None, None, None, None, None, None, None),),
    },
    3: {  # genIdentify
        0: (Attribute("identifyTime", 33, None, 0, (), None, 65535, None, None, None, None, None),),
    },
    6: {  # genOnOff
        0: (Attribute("onOff", 16, None, 0, (), None, None, None, None, None, None, None),),
        16384: (Attribute("globalSceneCtrl", 16, None, 1, (), None, None, None, None, None, None, None),),
        16385: (Attribute("onTime", 33, None, 0, (), None, 65535, None, None, None, None, None),),
        16386: (Attribute("offWaitTime", 33, None, 0, (), None, 65535, None, None, None, None, None),),
        16387: (Attribute("startUpOnOff", 48, None, None, ("255",), None, 255, None, None, None, None, None),),
    },
    8: {  # genLevelCtrl
        0: (Attribute("currentLevel", 32, None, 255, (), None, None, None, None, None, None, None),),
        1: (Attribute("remainingTime", 33, None, 0, (), None, 65535, None, None, None, None, None),),
        2: (Attribute("minLevel", 32, None, 0, (), None, None, None, None, None, None, None),),
        3: (Attribute("maxLevel", 32, None, 255, (), None, 255, None, None, None, None, None),),
        4: (Attribute("currentFrequency", 33, None, 0, (), None, None, None, None, None, None, None),),
        5: (Attribute("minFrequency", 33, None, 0, (), None, None, None, None, None, None, None),),
        6: (Attribute("maxFrequency", 33, None, 0, (), None, 65535, None, None, None, None, None),),
        15: (Attribute("options", 24, None, 0, (), None, None, None, None, None, None, None),),
        16: (Attribute("onOffTransitionTime", 33, None, 0, (), None, 65535, None, None, None, None, None),),
        17: (Attribute("onLevel", 32, None, 255, (), None, None, None, None, None, None, None),),
        18: (Attribute("onTransitionTime", 33, None, 65535, (), None, 65534, None, None, None, None, None),),
        19: (Attribute("offTransitionTime", 33, None, 65535, (), None, 65534, None, None, None, None, None),),
        20: (Attribute("defaultMoveRate", 32, None, None, (), None, 254, None, None, None, None, None),),
        16384: (Attribute("startUpCurrentLevel", 32, None, None, ("0", "255"), None, 255, None, None, None, None, None),),
    },
    12: {  # genAnalogInput
        28: (Attribute("description", 66, None, "\u0000", (), None, None, None, None, None, None, None),),
        65: (Attribute("maxPresentValue", 57, None, None, (), None, None, None, None, None, None, None),),
        69: (Attribute("minPresentValue", 57, None, None, (), None, None, None, None, None, None, None),),
        81: (Attribute("outOfService", 16, None, 0, (), None, None, None, None, None, None, None),),
        85: (Attribute("presentValue", 57, None, None, (), None, None, None, None, None, None, None),),
        103: (Attribute("reliability", 48, None, 0, (), None, None, None, None, None, None, None),),
        106: (Attribute("resolution", 57, None, None, (), None, None, None, None, None, None, None),),
        111: (Attribute("statusFlags", 24, None, 0, (), None, 15, None, None, None, None, None),),
        117: (Attribute("engineeringUnits", 49, None, None, (), None, 65535, None, None, None, None, None),),
        256: (Attribute("applicationType", 35, None, None, (), None, 4294967295, None, None, None, None, None),),
    },
    18: {  # genMultistateInput
        14: (Attribute("stateText", 72, None, None, (), None, None, None, None, None, None, None),),
        28: (Attribute("description", 66, None, "\u0000", (), None, None, None, None, None, None, None),),
        74: (Attribute("numberOfStates", 33, None, 0, (), 1, 65535, None, None, None, None, None),),
        81: (Attribute("outOfService", 16, None, 0, (), None, None, None, None, None, None, None),),
        85: (Attribute("presentValue", 33, None, None, (), None, None, None, None, None, None, None),),
        103: (Attribute("reliability", 48, None, 0, (), None, None, None, None, None, None, None),),
        111: (Attribute("statusFlags", 24, None, 0, (), None, 15, None, None, None, None, None),),
        256: (Attribute("applicationType", 35, None, None, (), None, 4294967295, None, None, None, None, None),),
    },
    768: {  # lightingColorCtrl
        0: (Attribute("currentHue", 32, None, 0, (), None, 254, None, None, None, None, None),),
        1: (Attribute("currentSaturation", 32, None, 0, (), None, 254, None, None, None, None, None),),
        2: (Attribute("remainingTime", 33, None, 0, (), None, 65534, None, None, None, None, None),),
        3: (Attribute("currentX", 33, None, 24939, (), None, 65279, None, None, None, None, None),),
        4: (Attribute("currentY", 33, None, 24701, (), None, 65279, None, None, None, None, None),),
        5: (Attribute("driftCompensation", 48, None, None, (), None, 4, None, None, None, None, None),),
        6: (Attribute("compensationText", 66, None, None, (), None, None, None, None, None, None, 254),),
        7: (Attribute("colorTemperature", 33, None, 250, ("0",), None, 65279, None, None, None, None, None),),
        8: (Attribute("colorMode", 48, None, 1, (), None, 2, None, None, None, None, None),),
        15: (Attribute("options", 24, None, 0, (), None, None, None, None, None, None, None),),
        16: (Attribute("numPrimaries", 32, None, None, (), None, 6, None, None, None, None, None),),
        17: (Attribute("primary1X", 33, None, None, (), None, 65279, None, None, None, None, None),),
        18: (Attribute("primary1Y", 33, None, None, (), None, 65279, None, None, None, None, None),),
        19: (Attribute("primary1Intensity", 32, None, None, (), None, 255, None, None, None, None, None),),
        21: (Attribute("primary2X", 33, None, None, (), None, 65279, None, None, None, None, None),),
        22: (Attribute("primary2Y", 33, None, None, (), None, 65279, None, None, None, None, None),),
        23: (Attribute("primary2Intensity", 32, None, None, (), None, None, None, None, None, None, None),),
        25: (Attribute("primary3X", 33, None, None, (), None, 65279, None, None, None, None, None),),
        26: (Attribute("primary3Y", 33, None, None, (), None, 65279, None, None, None, None, None),),
        27: (Attribute("primary3Intensity", 32, None, None, (), None, 255, None, None, None, None, None),),
        32: (Attribute("primary4X", 33, None, None, (), None, 65279, None, None, None, None, None),),
        33: (Attribute("primary4Y", 33, None, None, (), None, 65279, None, None, None, None, None),),
        34: (Attribute("primary4Intensity", 32, None, None, (), None, 255, None, None, None, None, None),),
        36: (Attribute("primary5X", 33, None, None, (), None, 65279, None, None, None, None, None),),
        37: (Attribute("primary5Y", 33, None, None, (), None, 65279, None, None, None, None, None),),
        38: (Attribute("primary5Intensity", 32, None, None, (), None, 255, None, None, None, None, None),),
        40: (Attribute("primary6X", 33, None, None, (), None, 65279, None, None, None, None, None),),
        41: (Attribute("primary6Y", 33, None, None, (), None, 65279, None, None, None, None, None),),
        42: (Attribute("primary6Intensity", 32, None, None, (), None, 255, None, None, None, None, None),),
        48: (Attribute("whitePointX", 33, None, None, (), None, 65279, None, None, None, None, None),),
        49: (Attribute("whitePointY", 33, None, None, (), None, 65279, None, None, None, None, None),),
        50: (Attribute("colorPointRX", 33, None, None, (), None, 65279, None, None, None, None, None),),
        51: (Attribute("colorPointRY", 33, None, None, (), None, 65279, None, None, None, None, None),),
        52: (Attribute("colorPointRIntensity", 32, None, None, (), None, 255, None, None, None, None, None),),
        54: (Attribute("colorPointGX", 33, None, None, (), None, 65279, None, None, None, None, None),),
        55: (Attribute("colorPointGY", 33, None, None, (), None, 65279, None, None, None, None, None),),
        56: (Attribute("colorPointGIntensity", 32, None, None, (), None, 255, None, None, None, None, None),),
        58: (Attribute("colorPointBX", 33, None, None, (), None, 65279, None, None, None, None, None),),
        59: (Attribute("colorPointBY", 33, None, None, (), None, 65279, None, None, None, None, None),),
        60: (Attribute("colorPointBIntensity", 32, None, None, (), None, 255, None, None, None, None, None),),
        16384: (Attribute("enhancedCurrentHue", 33, None, 0, (), None, 65535, None, None, None, None, None),),
        16385: (Attribute("enhancedColorMode", 48, None, 1, (), None, 255, None, None, None, None, None),),
        16386: (Attribute("colorLoopActive", 32, None, 0, (), None, 255, None, None, None, None, None),),
        16387: (Attribute("colorLoopDirection", 32, None, 0, (), None, 255, None, None, None, None, None),),
        16388: (Attribute("colorLoopTime", 33, None, 25, (), None, 65535, None, None, None, None, None),),
        16389: (Attribute("colorLoopStartEnhancedHue", 33, None, 8960, (), None, 65535, None, None, None, None, None),),
        16390: (Attribute("colorLoopStoredEnhancedHue", 33, None, 0, (), None, 65535, None, None, None, None, None),),
        16394: (Attribute("colorCapabilities", 25, None, 0, (), None, 31, None, None, None, None, None),),
        16395: (Attribute("colorTempPhysicalMin", 33, None, 0, (), None, 65279, None, None, None, None, None),),
        16396: (Attribute("colorTempPhysicalMax", 33, None, 65279, (), None, 65279, None, None, None, None, None),),
        16397: (Attribute("coupleColorTempToLevelMin", 33, None, None, (), None, None, None, None, None, None, None),),
        16400: (Attribute("startUpColorTemperature", 33, None, None, ("65535",), None, 65279, None, None, None, None, None),),
    },
    1024: {  # msIlluminanceMeasurement
        0: (Attribute("measuredValue", 33, None, 0, ("0", "65535"), None, 65534, None, None, None, None, None),),
        1: (Attribute("minMeasuredValue", 33, None, None, (), 1, 65533, None, None, None, None, None),),
        2: (Attribute("maxMeasuredValue", 33, None, None, (), 2, 65534, None, None, None, None, None),),
        3: (Attribute("tolerance", 33, None, None, (), None, 2048, None, None, None, None, None),),
        4: (Attribute("lightSensorType", 48, None, 255, ("255",), None, None, None, None, None, None, None),),
    },
    1026: {  # msTemperatureMeasurement
        0: (Attribute("measuredValue", 41, None, None, (), None, None, None, None, None, None, None),),
        1: (Attribute("minMeasuredValue", 41, None, None, (), -27315, 32766, None, None, None, None, None),),
        2: (Attribute("maxMeasuredValue", 41, None, None, (), -27314, 32767, None, None, None, None, None),),
        3: (Attribute("tolerance", 33, None, None, (), None, 2048, None, None, None, None, None),),
    },
    1027: {  # msPressureMeasurement
        0: (Attribute("measuredValue", 41, None, None, (), None, None, None, None, None, None, None),),
        1: (Attribute("minMeasuredValue", 41, None, None, (), -32767, 32766, None, None, None, None, None),),
        2: (Attribute("maxMeasuredValue", 41, None, None, (), -32766, 32767, None, None, None, None, None),),
        3: (Attribute("tolerance", 33, None, None, (), None, 2048, None, None, None, None, None),),
        16: (Attribute("scaledValue", 41, None, 0, (), None, None, None, None, None, None, None),),
        17: (Attribute("minScaledValue", 41, None, None, (), -32767, 32766, None, None, None, None, None),),
        18: (Attribute("maxScaledValue", 41, None, None, (), -32766, 32767, None, None, None, None, None),),
        19: (Attribute("scaledTolerance", 33, None, None, (), None, 2048, None, None, None, None, None),),
        20: (Attribute("scale", 40, None, None, (), -127, 127, None, None, None, None, None),),
    },
    1029: {  # msRelativeHumidity
        0: (Attribute("measuredValue", 33, None, None, (), None, None, None, None, None, None, None),),
        1: (Attribute("minMeasuredValue", 33, None, None, (), None, 9999, None, None, None, None, None),),
        2: (Attribute("maxMeasuredValue", 33, None, None, (), 1, 10000, None, None, None, None, None),),
        3: (Attribute("tolerance", 33, None, None, (), None, 2048, None, None, None, None, None),),
    },
    1030: {  # msOccupancySensing
        0: (Attribute("occupancy", 24, None, None, (), None, None, None, None, None, None, None),),
        1: (Attribute("occupancySensorType", 48, None, 0, (), None, None, None, None, None, None, None),),
        2: (Attribute("occupancySensorTypeBitmap", 24, None, None, (), None, None, None, None, None, None, None),),
        16: (Attribute("pirOToUDelay", 33, None, 0, (), None, 65534, None, None, None, None, None),),
        17: (Attribute("pirUToODelay", 33, None, 0, (), None, 65534, None, None, None, None, None),),
        18: (Attribute("pirUToOThreshold", 32, None, 1, (), 1, 254, None, None, None, None, None),),
        32: (Attribute("ultrasonicOToUDelay", 33, None, 0, (), None, 65534, None, None, None, None, None),),
        33: (Attribute("ultrasonicUToODelay", 33, None, 0, (), None, 65534, None, None, None, None, None),),
        34: (Attribute("ultrasonicUToOThreshold", 32, None, 1, (), 1, 254, None, None, None, None, None),),
        48: (Attribute("contactOToUDelay", 33, None, 0, (), None, 65534, None, None, None, None, None),),
        49: (Attribute("contactUToODelay", 33, None, 0, (), None, 65534, None, None, None, None, None),),
        50: (Attribute("contactUToOThreshold", 32, None, 1, (), 1, 254, None, None, None, None, None),),
    },
    1280: {  # ssIasZone
        0: (Attribute("zoneState", 48, None, 0, (), None, None, None, None, None, None, None),),
        1: (Attribute("zoneType", 49, None, None, (), None, None, None, None, None, None, None),),
        2: (Attribute("zoneStatus", 25, None, 0, (), None, None, None, None, None, None, None),),
        16: (Attribute("iasCieAddr", 240, None, None, (), None, None, None, None, None, None, None),),
        17: (Attribute("zoneId", 32, None, 255, (), None, 255, None, None, None, None, None),),
        18: (Attribute("numZoneSensitivityLevelsSupported", 32, None, 2, (), 2, 255, None, None, None, None, None),),
        19: (Attribute("currentZoneSensitivityLevel", 32, None, 0, (), None, 255, None, None, None, None, None),),
    },
}

COMMANDS_26: _Table = {
    3: ({0: ("identify", (("identifytime", 33, (), None, None, ()),)), 1: ("identifyQuery", ()), 64: ("triggerEffect", (("effectid", 48, (), None, None, ()), ("effectvariant", 48, (), None, None, ())))}, {0: ("identifyQueryRsp", (("timeout", 33, (), None, 65535, ()),))}),  # genIdentify
    6: ({0: ("off", ()), 1: ("on", ()), 2: ("toggle", ()), 64: ("offWithEffect", (("effectid", 48, (), None, None, ()), ("effectvariant", 32, (), None, None, ()))), 65: ("onWithRecallGlobalScene", ()), 66: ("onWithTimedOff", (("ctrlbits", 32, (), None, None, ()), ("ontime", 33, (), None, None, ()), ("offwaittime", 33, (), None, None, ())))}, {}),  # genOnOff
    8: ({0: ("moveToLevel", (("level", 32, (), None, 255, ()), ("transtime", 33, (), None, None, ()), ("optionsMask", 24, (("remaining", None, 1, False),), None, None, ()), ("optionsOverride", 24, (("remaining", None, 1, False),), None, None, ()))), 1: ("move", (("movemode", 48, (), None, None, ()), ("rate", 32, (), None, None, ()), ("optionsMask", 24, (("remaining", None, 1, False),), None, None, ()), ("optionsOverride", 24, (("remaining", None, 1, False),), None, None, ()))), 2: ("step", (("stepmode", 48, (), None, None, ()), ("stepsize", 32, (), None, None, ()), ("transtime", 33, (), None, None, ()), ("optionsMask", 24, (("remaining", None, 1, False),), None, None, ()), ("optionsOverride", 24, (("remaining", None, 1, False),), None, None, ()))), 3: ("stop", (("optionsMask", 24, (("remaining", None, 1, False),), None, None, ()), ("optionsOverride", 24, (("remaining", None, 1, False),), None, None, ()))), 4: ("moveToLevelWithOnOff", (("level", 32, (), None, 255, ()), ("transtime", 33, (), None, None, ()), ("optionsMask", 24, (("remaining", None, 1, False),), None, None, ()), ("optionsOverride", 24, (("remaining", None, 1, False),), None, None, ()))), 5: ("moveWithOnOff", (("movemode", 48, (), None, None, ()), ("rate", 32, (), None, None, ()), ("optionsMask", 24, (("remaining", None, 1, False),), None, None, ()), ("optionsOverride", 24, (("remaining", None, 1, False),), None, None, ()))), 6: ("stepWithOnOff", (("stepmode", 48, (), None, None, ()), ("stepsize", 32, (), None, None, ()), ("transtime", 33, (), None, None, ()), ("optionsMask", 24, (("remaining", None, 1, False),), None, None, ()), ("optionsOverride", 24, (("remaining", None, 1, False),), None, None, ()))), 7: ("stopWithOnOff", (("optionsMask", 24, (("remaining", None, 1, False),), None, None, ()), ("optionsOverride", 24, (("remaining", None, 1, False),), None, None, ()))), 8: ("moveToClosestFrequency", (("frequency", 33, (), None, None, ()),))}, {}),  # genLevelCtrl
    12: ({}, {}),  # genAnalogInput
    18: ({}, {}),  # genMultistateInput
    768: ({0: ("moveToHue", (("hue", 32, (), None, None, ()), ("direction", 48, (), None, None, ()), ("transtime", 33, (), None, None, ()), ("optionsMask", 24, (("remaining", None, 1, False),), None, None, ()), ("optionsOverride", 24, (("remaining", None, 1, False),), None, None, ()))), 1: ("moveHue", (("movemode", 48, (), None, None, ()), ("rate", 32, (), None, None, ()), ("optionsMask", 24, (("remaining", None, 1, False),), None, None, ()), ("optionsOverride", 24, (("remaining", None, 1, False),), None, None, ()))), 2: ("stepHue", (("stepmode", 48, (), None, None, ()), ("stepsize", 32, (), None, None, ()), ("transtime", 32, (), None, None, ()), ("optionsMask", 24, (("remaining", None, 1, False),), None, None, ()), ("optionsOverride", 24, (("remaining", None, 1, False),), None, None, ()))), 3: ("moveToSaturation", (("saturation", 32, (), None, None, ()), ("transtime", 33, (), None, None, ()), ("optionsMask", 24, (("remaining", None, 1, False),), None, None, ()), ("optionsOverride", 24, (("remaining", None, 1, False),), None, None, ()))), 4: ("moveSaturation", (("movemode", 48, (), None, None, ()), ("rate", 32, (), None, None, ()), ("optionsMask", 24, (("remaining", None, 1, False),), None, None, ()), ("optionsOverride", 24, (("remaining", None, 1, False),), None, None, ()))), 5: ("stepSaturation", (("stepmode", 48, (), None, None, ()), ("stepsize", 32, (), None, None, ()), ("transtime", 32, (), None, None, ()), ("optionsMask", 24, (("remaining", None, 1, False),), None, None, ()), ("optionsOverride", 24, (("remaining", None, 1, False),), None, None, ()))), 6: ("moveToHueAndSaturation", (("hue", 32, (), None, None, ()), ("saturation", 32, (), None, None, ()), ("transtime", 33, (), None, None, ()), ("optionsMask", 24, (("remaining", None, 1, False),), None, None, ()), ("optionsOverride", 24, (("remaining", None, 1, False),), None, None, ()))), 7: ("moveToColor", (("colorx", 33, (), None, None, ()), ("colory", 33, (), None, None, ()), ("transtime", 33, (), None, None, ()), ("optionsMask", 24, (("remaining", None, 1, False),), None, None, ()), ("optionsOverride", 24, (("remaining", None, 1, False),), None, None, ()))), 8: ("moveColor", (("ratex", 41, (), None, None, ()), ("ratey", 41, (), None, None, ()), ("optionsMask", 24, (("remaining", None, 1, False),), None, None, ()), ("optionsOverride", 24, (("remaining", None, 1, False),), None, None, ()))), 9: ("stepColor", (("stepx", 41, (), None, None, ()), ("stepy", 41, (), None, None, ()), ("transtime", 33, (), None, None, ()), ("optionsMask", 24, (("remaining", None, 1, False),), None, None, ()), ("optionsOverride", 24, (("remaining", None, 1, False),), None, None, ()))), 10: ("moveToColorTemp", (("colortemp", 33, (), None, None, ()), ("transtime", 33, (), None, None, ()), ("optionsMask", 24, (("remaining", None, 1, False),), None, None, ()), ("optionsOverride", 24, (("remaining", None, 1, False),), None, None, ()))), 64: ("enhancedMoveToHue", (("enhancehue", 33, (), None, None, ()), ("direction", 48, (), None, None, ()), ("transtime", 33, (), None, None, ()), ("optionsMask", 24, (("remaining", None, 1, False),), None, None, ()), ("optionsOverride", 24, (("remaining", None, 1, False),), None, None, ()))), 65: ("enhancedMoveHue", (("movemode", 48, (), None, None, ()), ("rate", 33, (), None, None, ()), ("optionsMask", 24, (("remaining", None, 1, False),), None, None, ()), ("optionsOverride", 24, (("remaining", None, 1, False),), None, None, ()))), 66: ("enhancedStepHue", (("stepmode", 48, (), None, None, ()), ("stepsize", 33, (), None, None, ()), ("transtime", 33, (), None, None, ()), ("optionsMask", 24, (("remaining", None, 1, False),), None, None, ()), ("optionsOverride", 24, (("remaining", None, 1, False),), None, None, ()))), 67: ("enhancedMoveToHueAndSaturation", (("enhancehue", 33, (), None, None, ()), ("saturation", 32, (), None, None, ()), ("transtime", 33, (), None, None, ()), ("optionsMask", 24, (("remaining", None, 1, False),), None, None, ()), ("optionsOverride", 24, (("remaining", None, 1, False),), None, None, ()))), 68: ("colorLoopSet", (("updateflags", 24, (), None, None, ()), ("action", 48, (), None, None, ()), ("direction", 48, (), None, None, ()), ("time", 33, (), None, None, ()), ("starthue", 33, (), None, None, ()), ("optionsMask", 24, (("remaining", None, 1, False),), None, None, ()), ("optionsOverride", 24, (("remaining", None, 1, False),), None, None, ()))), 71: ("stopMoveStep", (("optionsMask", 24, (("remaining", None, 1, False),), None, None, ()), ("optionsOverride", 24, (("remaining", None, 1, False),), None, None, ()))), 75: ("moveColorTemp", (("movemode", 48, (), None, None, ()), ("rate", 33, (), None, None, ()), ("minimum", 33, (), None, None, ()), ("maximum", 33, (), None, None, ()), ("optionsMask", 24, (("remaining", None, 1, False),), None, None, ()), ("optionsOverride", 24, (("remaining", None, 1, False),), None, None, ()))), 76: ("stepColorTemp", (("stepmode", 48, (), None, None, ()), ("stepsize", 33, (), None, None, ()), ("transtime", 33, (), None, None, ()), ("minimum", 33, (), None, None, ()), ("maximum", 33, (), None, None, ()), ("optionsMask", 24, (("remaining", None, 1, False),), None, None, ()), ("optionsOverride", 24, (("remaining", None, 1, False),), None, None, ())))}, {}),  # lightingColorCtrl
    1024: ({}, {}),  # msIlluminanceMeasurement
    1026: ({}, {}),  # msTemperatureMeasurement
    1027: ({}, {}),  # msPressureMeasurement
    1029: ({}, {}),  # msRelativeHumidity
    1030: ({}, {}),  # msOccupancySensing
    1280: ({0: ("enrollRsp", (("enrollrspcode", 48, (), None, None, ()), ("zoneid", 32, (), None, None, ()))), 1: ("initNormalOpMode", ()), 2: ("initTestMode", (("testModeDuration", 32, (), None, None, ()), ("currentZoneSensitivityLevel", 32, (), None, None, ())))}, {0: ("statusChangeNotification", (("zonestatus", 25, (), None, None, ()), ("extendedstatus", 24, (), None, None, ()), ("zoneID", 32, (), None, None, ()), ("delay", 33, (), None, None, ()))), 1: ("enrollReq", (("zonetype", 49, (), None, None, ()), ("manucode", 33, (), None, None, ())))}),  # ssIasZone
}
# fmt: on
