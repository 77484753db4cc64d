//! `metakd info`: what a NIfTI file or a BraTS case folder holds, in the spirit of
//! fslinfo/fslstats: shape, data type, scaling, the chosen affine and its source, orientation,
//! voxel sizes, statistics, label counts and voxel probes; `--json` for scripts.

use clap::Args as ClapArgs;
use engine::study::{Modality, Region, Study};
use engine::volume::Volume;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(ClapArgs)]
pub struct Args {
    /// A NIfTI file (.nii, .nii.gz, .hdr) or a BraTS case folder.
    path: PathBuf,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
    /// Count each label value (voxels and mL).
    #[arg(long)]
    labels: bool,
    /// Probe voxels by on-disk index: `i,j,k` (frame 0) or `i,j,k,t`; repeatable.
    #[arg(long = "at", value_name = "I,J,K[,T]", num_args = 1.., value_parser = parse_index)]
    at: Vec<Vec<usize>>,
}

fn parse_index(text: &str) -> Result<Vec<usize>, String> {
    let parts: Result<Vec<usize>, _> = text.split(',').map(|p| p.trim().parse::<usize>()).collect();
    match parts {
        Ok(p) if p.len() == 3 || p.len() == 4 => Ok(p),
        _ => Err(format!(
            "'{text}' is not a voxel index; write i,j,k or i,j,k,t with non-negative integers"
        )),
    }
}

pub fn run(args: Args) -> ExitCode {
    let result = if args.path.is_dir() {
        study_info(&args)
    } else {
        file_info(&args)
    };
    match result {
        Ok(text) => {
            println!("{text}");
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("{}", message.replace('\n', " "));
            ExitCode::from(2)
        }
    }
}

#[derive(Serialize)]
struct Stats {
    min: Option<f64>,
    max: Option<f64>,
    mean: Option<f64>,
    sum: f64,
    nan_count: u64,
    voxel_count: u64,
}

#[derive(Serialize)]
struct LabelCount {
    value: i64,
    count: u64,
    volume_ml: f64,
}

#[derive(Serialize)]
struct Probe {
    index: Vec<usize>,
    value: f64,
    world_mm: [f64; 3],
}

#[derive(Serialize)]
struct FileInfo {
    file: String,
    shape: Vec<usize>,
    datatype: &'static str,
    nifti_version: u8,
    scl_slope: f64,
    scl_inter: f64,
    affine: [[f64; 4]; 4],
    affine_source: &'static str,
    sform_code: i32,
    qform_code: i32,
    axcodes: String,
    voxel_sizes: [f64; 3],
    stats: Stats,
    #[serde(skip_serializing_if = "Option::is_none")]
    labels: Option<Vec<LabelCount>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    probes: Option<Vec<Probe>>,
}

fn stats(data: &[f32]) -> Stats {
    let (mut min, mut max, mut sum, mut nan_count, mut finite) =
        (f64::INFINITY, f64::NEG_INFINITY, 0.0f64, 0u64, 0u64);
    for v in data {
        if v.is_nan() {
            nan_count += 1;
            continue;
        }
        let v = f64::from(*v);
        min = min.min(v);
        max = max.max(v);
        sum += v;
        finite += 1;
    }
    let some_if_any = |x: f64| (finite > 0).then_some(x);
    Stats {
        min: some_if_any(min),
        max: some_if_any(max),
        mean: some_if_any(sum / finite.max(1) as f64),
        sum,
        nan_count,
        voxel_count: data.len() as u64,
    }
}

/// Largest number of distinct values `--labels` lists before deciding the image is not a label map.
const MAX_LABEL_VALUES: usize = 10_000;

fn label_counts(volume: &Volume, file: &str) -> Result<Vec<LabelCount>, String> {
    let mut counts: BTreeMap<i64, u64> = BTreeMap::new();
    for v in &volume.data {
        if v.is_nan() {
            continue;
        }
        if v.fract() != 0.0 {
            return Err(format!(
                "{file}: --labels needs a label map, but the image holds the non-integer value {v}"
            ));
        }
        *counts.entry(*v as i64).or_default() += 1;
        if counts.len() > MAX_LABEL_VALUES {
            return Err(format!("{file}: --labels needs a label map, but the image holds more than {MAX_LABEL_VALUES} distinct values"));
        }
    }
    let ml = volume.voxel_volume_ml();
    Ok(counts
        .into_iter()
        .map(|(value, count)| LabelCount {
            value,
            count,
            volume_ml: count as f64 * ml,
        })
        .collect())
}

fn probes(volume: &Volume, at: &[Vec<usize>], file: &str) -> Result<Vec<Probe>, String> {
    at.iter()
        .map(|index| {
            let t = index.get(3).copied().unwrap_or(0);
            let ijk = [index[0], index[1], index[2]];
            let value = volume.value(ijk, t).ok_or_else(|| {
                format!(
                    "{file}: voxel {index:?} is outside the image (shape {:?}, {} frame(s))",
                    volume.shape, volume.frames
                )
            })?;
            let world_mm = volume.voxel_to_world(ijk.map(|i| i as f64));
            Ok(Probe {
                index: index.clone(),
                value: f64::from(value),
                world_mm,
            })
        })
        .collect()
}

fn file_info(args: &Args) -> Result<String, String> {
    let file = args.path.display().to_string();
    let volume = Volume::read(&args.path).map_err(|e| e.to_string())?;
    let mut shape = volume.shape.to_vec();
    if volume.frames > 1 {
        shape.push(volume.frames);
    }
    let info = FileInfo {
        file: file.clone(),
        shape,
        datatype: volume.datatype.name(),
        nifti_version: match volume.version {
            engine::volume::NiftiVersion::Nifti1 => 1,
            engine::volume::NiftiVersion::Nifti2 => 2,
        },
        scl_slope: volume.scl_slope,
        scl_inter: volume.scl_inter,
        affine: volume.affine.0,
        affine_source: volume.affine_source.name(),
        sform_code: volume.spatial.sform_code,
        qform_code: volume.spatial.qform_code,
        axcodes: volume.axcodes().iter().collect(),
        voxel_sizes: volume.voxel_sizes(),
        stats: stats(&volume.data),
        labels: if args.labels {
            Some(label_counts(&volume, &file)?)
        } else {
            None
        },
        probes: if args.at.is_empty() {
            None
        } else {
            Some(probes(&volume, &args.at, &file)?)
        },
    };
    if args.json {
        return serde_json::to_string_pretty(&info)
            .map_err(|e| format!("{file}: cannot encode JSON: {e}"));
    }
    Ok(file_text(&info))
}

fn fmt_opt(x: Option<f64>) -> String {
    x.map_or_else(|| "n/a".to_string(), |v| format!("{v}"))
}

fn file_text(info: &FileInfo) -> String {
    let mut out = Vec::new();
    out.push(format!("file          {}", info.file));
    out.push(format!("format        NIfTI-{}", info.nifti_version));
    out.push(format!("shape         {:?}", info.shape));
    out.push(format!("datatype      {}", info.datatype));
    out.push(format!(
        "scaling       slope {} inter {}",
        info.scl_slope, info.scl_inter
    ));
    out.push(format!(
        "voxel sizes   {:.4} x {:.4} x {:.4} mm",
        info.voxel_sizes[0], info.voxel_sizes[1], info.voxel_sizes[2]
    ));
    out.push(format!("orientation   {}", info.axcodes));
    out.push(format!(
        "affine from   {} (sform_code {}, qform_code {})",
        info.affine_source, info.sform_code, info.qform_code
    ));
    for row in &info.affine {
        out.push(format!(
            "              {:>10.4} {:>10.4} {:>10.4} {:>10.4}",
            row[0], row[1], row[2], row[3]
        ));
    }
    let s = &info.stats;
    out.push(format!(
        "stats         min {} max {} mean {} sum {} nan {} voxels {}",
        fmt_opt(s.min),
        fmt_opt(s.max),
        fmt_opt(s.mean),
        s.sum,
        s.nan_count,
        s.voxel_count
    ));
    if let Some(labels) = &info.labels {
        out.push("labels        value  voxels  mL".to_string());
        for l in labels {
            out.push(format!(
                "              {:>5}  {:>6}  {:.3}",
                l.value, l.count, l.volume_ml
            ));
        }
    }
    if let Some(probes) = &info.probes {
        for p in probes {
            let w = p.world_mm;
            out.push(format!(
                "at {:?}  value {}  world ({:.3}, {:.3}, {:.3}) mm",
                p.index, p.value, w[0], w[1], w[2]
            ));
        }
    }
    out.join("\n")
}

#[derive(Serialize)]
struct ModalityEntry {
    modality: &'static str,
    file: String,
}

#[derive(Serialize)]
struct RegionVolume {
    region: &'static str,
    volume_ml: f64,
}

#[derive(Serialize)]
struct StudyInfo {
    case: String,
    folder: String,
    modalities: Vec<ModalityEntry>,
    missing: Vec<&'static str>,
    label_file: Option<String>,
    shape: [usize; 3],
    voxel_sizes: [f64; 3],
    axcodes: String,
    layout: &'static str,
    label_convention: Option<&'static str>,
    regions: Vec<RegionVolume>,
}

fn file_name(v: &Volume) -> String {
    v.source
        .as_deref()
        .and_then(Path::file_name)
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn study_info(args: &Args) -> Result<String, String> {
    let study = Study::open_folder(&args.path).map_err(|e| e.to_string())?;
    let reference = study.reference();
    let mut info = StudyInfo {
        case: study.name.clone(),
        folder: args.path.display().to_string(),
        modalities: Vec::new(),
        missing: Vec::new(),
        label_file: study.labels.as_ref().map(file_name),
        shape: reference.shape,
        voxel_sizes: reference.voxel_sizes(),
        axcodes: reference.axcodes().iter().collect(),
        layout: study.layout.name(),
        label_convention: None,
        regions: Vec::new(),
    };
    for m in Modality::ALL {
        match study.modality(m) {
            Some(v) => info.modalities.push(ModalityEntry {
                modality: m.name(),
                file: file_name(v),
            }),
            None => info.missing.push(m.name()),
        }
    }
    if let Some(labels) = &study.labels {
        // Study::open_folder refused values outside every convention.
        info.label_convention = Some(study.convention.name());
        let ml = labels.voxel_volume_ml();
        for region in Region::ALL {
            let count = study
                .convention
                .region_mask(labels.frame(0), region)
                .iter()
                .filter(|b| **b)
                .count();
            info.regions.push(RegionVolume {
                region: region.name(),
                volume_ml: count as f64 * ml,
            });
        }
    }
    if args.json {
        return serde_json::to_string_pretty(&info)
            .map_err(|e| format!("{}: cannot encode JSON: {e}", info.folder));
    }
    let mut out = vec![format!("case          {}", info.case)];
    for m in &info.modalities {
        out.push(format!("{:<13} {}", m.modality, m.file));
    }
    if !info.missing.is_empty() {
        out.push(format!("missing       {}", info.missing.join(", ")));
    }
    out.push(format!(
        "labels        {}",
        info.label_file.as_deref().unwrap_or("none")
    ));
    out.push(format!(
        "grid          {:?} voxels of {:.3} x {:.3} x {:.3} mm, {}",
        info.shape, info.voxel_sizes[0], info.voxel_sizes[1], info.voxel_sizes[2], info.axcodes
    ));
    out.push(format!("layout        {}", info.layout));
    if let Some(conv) = info.label_convention {
        out.push(format!("convention    {conv}"));
        for r in &info.regions {
            out.push(format!("{:<13} {:.2} mL", r.region, r.volume_ml));
        }
    }
    Ok(out.join("\n"))
}
