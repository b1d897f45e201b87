//! Playback with rodio on a thread of its own.
//!
//! The window sends [`PlayerCommand`]s; the `strata-player` thread opens the
//! audio device once, decodes and plays, and publishes a [`PlayerStatus`]
//! the window copies each frame. With no audio device the status says so and
//! every command is a no-op: nothing else in Strata depends on sound.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crossbeam_channel::{Receiver, Sender, bounded};
use rodio::Source;

/// What the window asks of the player.
#[derive(Debug, Clone, PartialEq)]
pub enum PlayerCommand {
    /// Play `path` from `start_s`; `track` is the caller's id for it.
    Play {
        /// File to play.
        path: PathBuf,
        /// Start position, seconds.
        start_s: f64,
        /// Caller's id for the track (snapshot index).
        track: usize,
    },
    /// Pause or resume.
    TogglePause,
    /// Jump to a position, seconds.
    Seek(f64),
    /// Volume, 0–1.
    SetVolume(f32),
    /// Switch to another recording at the same musical moment: `path` starts
    /// where `map` (pairs of times in `from` and in `path`, both
    /// non-decreasing) puts the playing position, with a short crossfade and
    /// no gap. Unless `from` is what plays, it plays `path` from its start.
    Switch {
        /// The recording the map starts from.
        from: PathBuf,
        /// The other recording.
        path: PathBuf,
        /// Caller's id for it.
        track: usize,
        /// Times in the playing track → times in `path`, seconds.
        map: Arc<[(f64, f64)]>,
    },
}

/// How long a [`PlayerCommand::Switch`] crossfades.
pub const CROSSFADE: Duration = Duration::from_millis(80);
/// Volume steps of the crossfade.
const CROSSFADE_STEPS: u32 = 16;

/// What the player is doing, as last published.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PlayerStatus {
    /// `Some(reason)` when no audio output could be opened.
    pub unavailable: Option<String>,
    /// The track playing or paused.
    pub track: Option<usize>,
    /// Whether sound is coming out.
    pub playing: bool,
    /// Position, seconds.
    pub position_s: f64,
    /// Length, when the decoder knows it.
    pub duration_s: Option<f64>,
    /// The last track ran to its end (for "next" and similar radio).
    pub finished: bool,
    /// The last error (file could not be played).
    pub error: Option<String>,
    /// Volume, 0–1.
    pub volume: f32,
}

impl PlayerStatus {
    /// `track`, `duration_s` long, has started.
    fn started(&mut self, track: usize, duration_s: Option<f64>) {
        self.track = Some(track);
        self.duration_s = duration_s;
        self.finished = false;
        self.error = None;
    }
}

/// The window's handle on the player thread.
pub struct PlayerHandle {
    commands: Sender<PlayerCommand>,
    status: Arc<Mutex<PlayerStatus>>,
}

impl PlayerHandle {
    /// Starts the player thread; `on_change` is called when the status changes (e.g. to repaint).
    pub fn start(on_change: impl Fn() + Send + 'static) -> Self {
        let (commands, receiver) = bounded(32);
        let status = Arc::new(Mutex::new(PlayerStatus { volume: 0.8, ..PlayerStatus::default() }));
        let thread_status = status.clone();
        let spawned =
            std::thread::Builder::new().name("strata-player".into()).spawn(move || player_thread(&receiver, &thread_status, &on_change));
        if let Err(e) = spawned
            && let Ok(mut s) = status.lock()
        {
            s.unavailable = Some(format!("the player thread could not start: {e}"));
        }
        Self { commands, status }
    }

    /// Sends a command; dropped silently if the player is busy or gone.
    pub fn send(&self, command: PlayerCommand) {
        let _ = self.commands.try_send(command);
    }

    /// A copy of the current status.
    pub fn status(&self) -> PlayerStatus {
        self.status.lock().map(|s| s.clone()).unwrap_or_default()
    }
}

fn player_thread(commands: &Receiver<PlayerCommand>, status: &Mutex<PlayerStatus>, on_change: &dyn Fn()) {
    let publish = |update: &dyn Fn(&mut PlayerStatus)| {
        if let Ok(mut s) = status.lock() {
            update(&mut s);
        }
        on_change();
    };
    let device = match rodio::DeviceSinkBuilder::open_default_sink() {
        Ok(mut device) => {
            device.log_on_drop(false);
            device
        }
        Err(e) => {
            let reason = format!("no audio output device ({e}); playback is off, everything else works");
            log::warn!("{reason}");
            publish(&|s| s.unavailable = Some(reason.clone()));
            // Drain commands so senders never block.
            for _ in commands.iter() {}
            return;
        }
    };
    let mut sink = rodio::Player::connect_new(device.mixer());
    let mut volume = 0.8f32;
    sink.set_volume(volume);
    let mut current: Option<usize> = None;
    // The file playing, for a switch to check its map starts from it.
    let mut playing_path: Option<PathBuf> = None;
    loop {
        match commands.recv_timeout(Duration::from_millis(100)) {
            Ok(PlayerCommand::Switch { from, path, track, map }) => match open_source(&path) {
                Ok((source, duration_s)) => {
                    let playing = current.is_some() && !sink.empty() && playing_path.as_ref() == Some(&from);
                    // The position is read once the new file is open, so the opening does not put B behind.
                    let start_s = if playing { crate::versions::align::interpolate(&map, sink.get_pos().as_secs_f64()) } else { None };
                    let next = rodio::Player::connect_new(device.mixer());
                    next.set_volume(0.0);
                    next.append(source);
                    if let Some(at) = start_s.and_then(seek_target) {
                        let _ = next.try_seek(at);
                    }
                    if playing && !sink.is_paused() {
                        next.play();
                        for step in 1..=CROSSFADE_STEPS {
                            let share = step as f32 / CROSSFADE_STEPS as f32;
                            next.set_volume(volume * share);
                            sink.set_volume(volume * (1.0 - share));
                            std::thread::sleep(CROSSFADE / CROSSFADE_STEPS);
                        }
                    } else {
                        next.set_volume(volume);
                        if playing { next.pause() } else { next.play() }
                    }
                    sink.stop();
                    sink = next;
                    current = Some(track);
                    playing_path = Some(path);
                    publish(&|s| s.started(track, duration_s));
                }
                Err(reason) => publish(&|s| s.error = Some(format!("{}: {reason}", path.display()))),
            },
            Ok(PlayerCommand::Play { path, start_s, track }) => {
                sink.clear();
                match open_source(&path) {
                    Ok((source, duration_s)) => {
                        sink.append(source);
                        if start_s > 0.0
                            && let Some(at) = seek_target(start_s)
                        {
                            let _ = sink.try_seek(at);
                        }
                        sink.play();
                        current = Some(track);
                        playing_path = Some(path.clone());
                        publish(&|s| s.started(track, duration_s));
                    }
                    Err(reason) => {
                        current = None;
                        publish(&|s| {
                            s.track = None;
                            s.error = Some(format!("{}: {reason}", path.display()));
                        });
                    }
                }
            }
            Ok(PlayerCommand::TogglePause) => {
                if sink.is_paused() {
                    sink.play()
                } else {
                    sink.pause()
                }
            }
            Ok(PlayerCommand::Seek(position_s)) => match seek_target(position_s) {
                Some(at) => _ = sink.try_seek(at),
                None => log::warn!("ignored a seek to {position_s} s"),
            },
            Ok(PlayerCommand::SetVolume(v)) => {
                volume = v.clamp(0.0, 1.0);
                sink.set_volume(volume);
            }
            Err(crossbeam_channel::RecvTimeoutError::Timeout) => {}
            Err(crossbeam_channel::RecvTimeoutError::Disconnected) => return,
        }
        let ended = current.is_some() && sink.empty();
        if ended {
            current = None;
        }
        let playing = current.is_some() && !sink.is_paused();
        let position_s = sink.get_pos().as_secs_f64();
        if let Ok(mut s) = status.lock() {
            let changed = s.playing != playing || (s.position_s - position_s).abs() > 0.05 || ended;
            s.playing = playing;
            s.position_s = position_s;
            s.volume = volume;
            if ended {
                s.finished = true;
                s.track = None;
            }
            drop(s);
            if changed {
                on_change();
            }
        }
    }
}

/// Where a position in seconds lies: before the start (or NaN) is the start;
/// `None` where no `Duration` can hold it (+inf, overflow), since
/// `Duration::from_secs_f64` would panic and silently end the player thread.
/// Positions come from stored passages and the window's seek bar.
fn seek_target(position_s: f64) -> Option<Duration> {
    // f64::max ignores NaN, so NaN becomes 0 here too.
    Duration::try_from_secs_f64(position_s.max(0.0)).ok()
}

type BoxedSource = Box<dyn Source<Item = rodio::Sample> + Send>;

fn open_source(path: &std::path::Path) -> Result<(BoxedSource, Option<f64>), String> {
    let file = std::fs::File::open(path).map_err(|e| e.to_string())?;
    let decoder = rodio::Decoder::try_from(file).map_err(|e| e.to_string())?;
    let duration_s = decoder.total_duration().map(|d| d.as_secs_f64());
    Ok((Box::new(decoder), duration_s))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seek_targets_of_any_stored_position_do_not_panic() {
        assert_eq!(seek_target(1.5), Some(Duration::from_millis(1500)));
        assert_eq!(seek_target(-2.0), Some(Duration::ZERO));
        assert_eq!(seek_target(f64::NAN), Some(Duration::ZERO));
        assert_eq!(seek_target(f64::INFINITY), None);
        assert_eq!(seek_target(1e300), None);
    }
}
