"""NVIDIA GPUs through NVML (nvidia-ml-py), in one module.

Reading and parsing are split: `read_nvml()` makes the NVML calls and returns
plain dictionaries; `parse_gpus()` turns them into Samples. Tests feed recorded
NVML values through `parse_gpus()`, the same path real readings take, and an
AMD or Apple probe can be added beside this module with its own reader.

No NVIDIA driver is the normal case on many machines: it is reported as the
fact "no NVIDIA GPU found", never as an error.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable

from wfdoctor.model import Sample, SampleBatch

SOURCE = "nvml"

# NVML's clocks-event (throttle) reason bits, from nvml.h.
THROTTLE_REASONS = {
    0x1: "gpu_idle",
    0x2: "applications_clocks_setting",
    0x4: "sw_power_cap",
    0x8: "hw_slowdown",
    0x10: "sync_boost",
    0x20: "sw_thermal_slowdown",
    0x40: "hw_thermal_slowdown",
    0x80: "hw_power_brake_slowdown",
    0x100: "display_clock_setting",
}


@dataclass
class GpuReport:
    """What the GPU probe found: samples, and a sentence when there is no GPU."""

    samples: list[Sample] = field(default_factory=list)
    gpus: list[dict[str, Any]] = field(default_factory=list)
    status: str = ""

    @property
    def found(self) -> bool:
        return bool(self.gpus)


def throttle_names(mask: int) -> list[str]:
    """Names of the reasons set in an NVML clocks-event bitmask."""
    return [name for bit, name in THROTTLE_REASONS.items() if mask & bit]


def _optional(call: Callable[[], Any]) -> Any:
    """Value of an NVML query, or None where the device does not support it."""
    import pynvml

    try:
        return call()
    except pynvml.NVMLError:
        return None


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _static_info(index: int) -> dict[str, Any]:
    """Values fixed for the device's lifetime; some cost milliseconds (max clocks)."""
    import pynvml

    handle = pynvml.nvmlDeviceGetHandleByIndex(index)
    return {
        "index": index,
        "name": _text(pynvml.nvmlDeviceGetName(handle)),
        "uuid": _text(_optional(lambda: pynvml.nvmlDeviceGetUUID(handle)) or ""),
        "memory_total_bytes": pynvml.nvmlDeviceGetMemoryInfo(handle).total,
        "power_limit_milliwatts": _optional(lambda: pynvml.nvmlDeviceGetEnforcedPowerLimit(handle)),
        "clock_sm_max_mhz": _optional(lambda: pynvml.nvmlDeviceGetMaxClockInfo(handle, pynvml.NVML_CLOCK_SM)),
        "clock_memory_max_mhz": _optional(lambda: pynvml.nvmlDeviceGetMaxClockInfo(handle, pynvml.NVML_CLOCK_MEM)),
        "memory_bus_width_bits": _optional(lambda: pynvml.nvmlDeviceGetMemoryBusWidth(handle)),
    }


def _read_device(static: dict[str, Any]) -> dict[str, Any]:
    """The changing values of one device, merged over its static ones."""
    import pynvml

    handle = pynvml.nvmlDeviceGetHandleByIndex(static["index"])
    memory = pynvml.nvmlDeviceGetMemoryInfo(handle)
    util = _optional(lambda: pynvml.nvmlDeviceGetUtilizationRates(handle))
    reasons_call = (getattr(pynvml, "nvmlDeviceGetCurrentClocksEventReasons", None)
                    or pynvml.nvmlDeviceGetCurrentClocksThrottleReasons)
    processes: list[dict[str, Any]] = []
    for query in (pynvml.nvmlDeviceGetComputeRunningProcesses, pynvml.nvmlDeviceGetGraphicsRunningProcesses):
        for proc in _optional(lambda q=query: q(handle)) or []:
            processes.append({"pid": proc.pid, "used_memory": proc.usedGpuMemory})
    return static | {
        "utilization_gpu_percent": util.gpu if util else None,
        "utilization_memory_percent": util.memory if util else None,
        "memory_used_bytes": memory.used,
        "temperature_celsius": _optional(lambda: pynvml.nvmlDeviceGetTemperature(handle, pynvml.NVML_TEMPERATURE_GPU)),
        "power_milliwatts": _optional(lambda: pynvml.nvmlDeviceGetPowerUsage(handle)),
        "clock_sm_mhz": _optional(lambda: pynvml.nvmlDeviceGetClockInfo(handle, pynvml.NVML_CLOCK_SM)),
        "clock_memory_mhz": _optional(lambda: pynvml.nvmlDeviceGetClockInfo(handle, pynvml.NVML_CLOCK_MEM)),
        "throttle_reasons_mask": _optional(lambda: reasons_call(handle)),
        "processes": processes,
    }


class NvmlSession:
    """NVML kept open between readings.

    On an H100 machine nvmlInit costs about 100 ms of CPU and each max-clock
    query 1.5 ms, against microseconds for the changing values, so a monitor
    opens the session once and reads static values once per device.
    """

    def __init__(self) -> None:
        self.status = ""
        self.driver = ""
        self._open = False
        self._static: list[dict[str, Any]] = []

    def open(self) -> bool:
        """Start NVML; False (with `status` saying why) when there is no GPU."""
        try:
            import pynvml
        except ImportError:
            self.status = "no NVIDIA GPU found (nvidia-ml-py is not installed)"
            return False
        try:
            pynvml.nvmlInit()
        except pynvml.NVMLError as exc:
            self.status = f"no NVIDIA GPU found ({_text(exc)})"
            return False
        self._open = True
        self.driver = _text(_optional(pynvml.nvmlSystemGetDriverVersion) or "unknown")
        self._static = [_static_info(index) for index in range(pynvml.nvmlDeviceGetCount())]
        return True

    def read(self) -> list[dict[str, Any]]:
        """Raw readings of every device (empty when NVML is not open)."""
        if not self._open:
            return []
        devices = [_read_device(static) for static in self._static]
        self.status = (f"{len(devices)} NVIDIA GPU(s), driver {self.driver}" if devices
                       else "no NVIDIA GPU found (driver present, no devices)")
        return devices

    def close(self) -> None:
        if self._open:
            import pynvml

            pynvml.nvmlShutdown()
            self._open = False


def read_nvml() -> tuple[list[dict[str, Any]], str]:
    """One-shot raw readings of every NVIDIA GPU, and a status sentence."""
    session = NvmlSession()
    if not session.open():
        return [], session.status
    try:
        return session.read(), session.status
    finally:
        session.close()


def parse_gpus(devices: list[dict[str, Any]], process_names: dict[int, str] | None = None,
               ts: float | None = None) -> list[Sample]:
    """Samples from raw NVML readings; missing (unsupported) values are skipped."""
    ts = time.time() if ts is None else ts
    names = process_names or {}
    out: list[Sample] = []
    for dev in devices:
        batch = SampleBatch(ts=ts, common={"gpu": str(dev["index"]), "name": dev["name"]})

        def add(metric: str, value: float | None, unit: str, batch: SampleBatch = batch, **labels: str) -> None:
            batch.add(metric, value, unit, SOURCE, **labels)

        percent = dev.get("utilization_gpu_percent")
        add("wf_gpu_utilization_ratio", percent / 100.0 if percent is not None else None, "ratio")
        total = dev["memory_total_bytes"]
        add("wf_gpu_memory_used_bytes", dev["memory_used_bytes"], "bytes")
        add("wf_gpu_memory_total_bytes", total, "bytes")
        add("wf_gpu_memory_used_ratio", dev["memory_used_bytes"] / total if total else None, "ratio")
        add("wf_gpu_temperature_celsius", dev.get("temperature_celsius"), "°C")
        power = dev.get("power_milliwatts")
        add("wf_gpu_power_watts", power / 1000.0 if power is not None else None, "W")
        limit = dev.get("power_limit_milliwatts")
        add("wf_gpu_power_limit_watts", limit / 1000.0 if limit is not None else None, "W")
        for clock in ("sm", "memory"):
            for kind, key in (("current", f"clock_{clock}_mhz"), ("max", f"clock_{clock}_max_mhz")):
                mhz = dev.get(key)
                add("wf_gpu_clock_hertz", mhz * 1e6 if mhz is not None else None, "Hz", clock=clock, kind=kind)
        mask = dev.get("throttle_reasons_mask")
        if mask is not None:
            add("wf_gpu_throttle_reasons", mask, "bitmask", reasons=",".join(throttle_names(mask)) or "none")
        for proc in dev.get("processes", []):
            add("wf_gpu_process_memory_bytes", proc.get("used_memory"), "bytes",
                pid=str(proc["pid"]), process=names.get(proc["pid"], "?"))
        out += batch.samples
    return out


def probe_gpus(process_names: dict[int, str] | None = None) -> GpuReport:
    """Read and parse every NVIDIA GPU; an empty report says why there is none."""
    devices, status = read_nvml()
    return GpuReport(samples=parse_gpus(devices, process_names), gpus=devices, status=status)
