//! Accelerator power measured by trajkit itself during `trajkit capacity` (`--nvml`): a sampler
//! thread reads the total power of every GPU at a fixed interval into timestamped samples, and
//! each step's mean over its measured window gives agents per megawatt from measured power rather
//! than a figure given by hand.
//!
//! The source is a trait so that the sampling and the window averaging are tested with a fake
//! source on machines without a GPU. The NVML source (feature `nvml`) loads `libnvidia-ml` when
//! it is opened, at run time: a build with the feature links nothing from NVIDIA and runs
//! everywhere; `--nvml` then fails with a clear message where there is no driver.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

/// Something that reads the current power draw of each accelerator, in watts.
pub trait PowerSource: Send {
    /// One reading per accelerator.
    fn watts(&mut self) -> Result<Vec<f64>, String>;
}

/// Power could not be measured.
#[derive(Debug, thiserror::Error)]
pub enum PowerError {
    /// This build has no NVML support.
    #[error("this trajkit was built without the `nvml` feature (cargo build --features nvml)")]
    NotBuilt,
    /// NVML could not be loaded or asked.
    #[error("NVML: {0}")]
    Nvml(String),
}

/// Timestamped total power: (seconds since the Unix epoch, watts summed over accelerators).
pub type PowerSample = (f64, f64);

/// The mean of the samples taken within `[start, end]` (Unix seconds); `None` when none were.
pub fn window_mean(samples: &[PowerSample], start: f64, end: f64) -> Option<f64> {
    let inside: Vec<f64> = samples
        .iter()
        .filter(|(time, _)| (start..=end).contains(time))
        .map(|(_, watts)| *watts)
        .collect();
    #[allow(clippy::cast_precision_loss, reason = "sample counts are small")]
    (!inside.is_empty()).then(|| inside.iter().sum::<f64>() / inside.len() as f64)
}

/// A thread sampling a `PowerSource` at a fixed interval until stopped (or dropped).
pub struct PowerSampler {
    samples: Arc<Mutex<Vec<PowerSample>>>,
    error: Arc<Mutex<Option<String>>>,
    stop: Arc<AtomicBool>,
    thread: Mutex<Option<JoinHandle<()>>>,
    interval: Duration,
}

impl std::fmt::Debug for PowerSampler {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("PowerSampler")
            .field("interval", &self.interval)
            .field("samples", &self.lock_samples().len())
            .finish_non_exhaustive()
    }
}

fn unix_seconds() -> f64 {
    #[allow(
        clippy::cast_precision_loss,
        reason = "ns since the epoch fit in f64 to 0.3 µs"
    )]
    let seconds = jiff::Timestamp::now().as_nanosecond() as f64 / 1e9;
    seconds
}

impl PowerSampler {
    /// Starts sampling `source` every `interval`. A failed reading is kept as the sampler's error
    /// and ends the sampling (steps after it have no measured power, and say why).
    pub fn start(mut source: Box<dyn PowerSource>, interval: Duration) -> PowerSampler {
        let samples = Arc::new(Mutex::new(Vec::new()));
        let error = Arc::new(Mutex::new(None));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (samples, error, stop) =
                (Arc::clone(&samples), Arc::clone(&error), Arc::clone(&stop));
            std::thread::spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    match source.watts() {
                        Ok(readings) => samples
                            .lock()
                            .unwrap_or_else(PoisonError::into_inner)
                            .push((unix_seconds(), readings.iter().sum())),
                        Err(message) => {
                            *error.lock().unwrap_or_else(PoisonError::into_inner) = Some(message);
                            return;
                        }
                    }
                    std::thread::sleep(interval);
                }
            })
        };
        PowerSampler {
            samples,
            error,
            stop,
            thread: Mutex::new(Some(thread)),
            interval,
        }
    }

    fn lock_samples(&self) -> std::sync::MutexGuard<'_, Vec<PowerSample>> {
        self.samples.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The mean total power over `[start, end]` (Unix seconds), from the samples so far.
    pub fn mean(&self, start: f64, end: f64) -> Option<f64> {
        window_mean(&self.lock_samples(), start, end)
    }

    /// Why sampling stopped early, if it did.
    pub fn error(&self) -> Option<String> {
        self.error
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Stops the thread and returns every sample taken.
    pub fn stop(&self) -> Vec<PowerSample> {
        self.stop.store(true, Ordering::SeqCst);
        let thread = self
            .thread
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(thread) = thread {
            let _ = thread.join();
        }
        self.lock_samples().clone()
    }
}

impl Drop for PowerSampler {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Opens the power source of every NVIDIA GPU through NVML.
#[cfg(feature = "nvml")]
pub fn nvml_source() -> Result<Box<dyn PowerSource>, PowerError> {
    let nvml = nvml_wrapper::Nvml::init().map_err(|error| PowerError::Nvml(error.to_string()))?;
    let devices = nvml
        .device_count()
        .map_err(|error| PowerError::Nvml(error.to_string()))?;
    if devices == 0 {
        return Err(PowerError::Nvml("no GPU found".to_owned()));
    }
    let mut source = NvmlSource { nvml, devices };
    // A first reading now, so that a GPU that cannot report power fails before any step.
    source.watts().map_err(PowerError::Nvml)?;
    Ok(Box::new(source))
}

/// Opens the power source of every NVIDIA GPU through NVML.
#[cfg(not(feature = "nvml"))]
pub fn nvml_source() -> Result<Box<dyn PowerSource>, PowerError> {
    Err(PowerError::NotBuilt)
}

/// Every GPU NVML sees, read with `nvmlDeviceGetPowerUsage` (milliwatts).
#[cfg(feature = "nvml")]
struct NvmlSource {
    nvml: nvml_wrapper::Nvml,
    devices: u32,
}

#[cfg(feature = "nvml")]
impl PowerSource for NvmlSource {
    fn watts(&mut self) -> Result<Vec<f64>, String> {
        (0..self.devices)
            .map(|index| {
                let device = self
                    .nvml
                    .device_by_index(index)
                    .map_err(|error| format!("GPU {index}: {error}"))?;
                let milliwatts = device
                    .power_usage()
                    .map_err(|error| format!("GPU {index}: power usage: {error}"))?;
                Ok(f64::from(milliwatts) / 1000.0)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two GPUs whose readings come from a script; then an error.
    struct Scripted {
        readings: std::vec::IntoIter<Vec<f64>>,
    }

    impl PowerSource for Scripted {
        fn watts(&mut self) -> Result<Vec<f64>, String> {
            self.readings
                .next()
                .ok_or_else(|| "GPU 0: power usage: not supported".to_owned())
        }
    }

    #[test]
    fn the_window_mean_takes_only_samples_inside_the_window() {
        let samples = [
            (9.9, 1000.0),
            (10.0, 300.0),
            (10.5, 500.0),
            (11.0, 400.0),
            (11.1, 9.0),
        ];
        assert_eq!(window_mean(&samples, 10.0, 11.0), Some(400.0));
        assert_eq!(window_mean(&samples, 12.0, 13.0), None);
        assert_eq!(window_mean(&[], 0.0, 1.0), None);
    }

    #[test]
    fn the_sampler_sums_the_gpus_and_keeps_the_error_that_stopped_it() {
        let source = Scripted {
            readings: vec![vec![100.0, 250.0], vec![110.0, 240.0], vec![120.0, 280.0]].into_iter(),
        };
        let sampler = PowerSampler::start(Box::new(source), Duration::from_millis(1));
        // The script ends after three readings; the thread then stops on its error.
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while sampler.error().is_none() && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
        let taken = sampler.stop();
        let watts: Vec<f64> = taken.iter().map(|(_, watts)| *watts).collect();
        assert_eq!(watts, vec![350.0, 350.0, 400.0]);
        assert!(taken.windows(2).all(|pair| pair[0].0 <= pair[1].0));
        assert_eq!(
            sampler.error().as_deref(),
            Some("GPU 0: power usage: not supported")
        );
        let (first, last) = (taken[0].0, taken[2].0);
        let mean = sampler.mean(first, last).unwrap();
        assert!((mean - 1100.0 / 3.0).abs() < 1e-9);
    }
}
