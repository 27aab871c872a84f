//! Scenario: the container image (packaging/image) as the route reflector
//! of a lab, in drop-in mode (issue 10).
//!
//! The image's filesystem (a `buildah mount` of it) runs chrooted in the
//! RR's network namespace, with a private mount and PID namespace, started
//! with the image's own entrypoint and the calico/routereflector
//! environment (`IP`, `ETCD_ENDPOINTS`). The seed's keys are in a real etcd
//! (v2 API, as the image's confd read them) and three Calico-like BIRD 1.6
//! clients must learn each other's blocks through the image's BIRD 2.
//!
//! Needs a built image: `packaging/image/smoke.sh` builds it, mounts it and
//! runs this test with `RRD_IMAGE_ROOTFS` and `RRD_IMAGE_ENTRYPOINT` set.

#[path = "../etcd_dropin/seed.rs"]
#[allow(dead_code)]
mod seed;

use std::time::Duration;

use seed::{Api, SeedLab};

#[test]
#[ignore = "needs a built image: run packaging/image/smoke.sh"]
fn the_image_in_drop_in_mode_reflects_the_seeds_routes_between_three_clients() {
    let rootfs = std::env::var("RRD_IMAGE_ROOTFS").expect("RRD_IMAGE_ROOTFS: the mounted image");
    let entrypoint =
        std::env::var("RRD_IMAGE_ENTRYPOINT").expect("RRD_IMAGE_ENTRYPOINT: the image's command");
    assert!(
        std::path::Path::new(&rootfs).join("usr/sbin/bird").exists(),
        "no BIRD in the image at {rootfs}"
    );
    let mut s = SeedLab::new(Api::V2);
    s.write_seed();
    let ip = s.rr.ipv4.to_string();
    let etcd = s.etcd.url();
    // /dev and /proc for the chroot, in a mount namespace that ends with
    // it; rrd is PID 1 of its own PID namespace (BIRD dies with it), and
    // SIGTERM to `unshare` reaches it. The environment is the image's, as
    // a container runtime sets it: the image's PATH plus the -e variables.
    let script = format!(
        "mount --bind /dev {rootfs}/dev && mount -t proc proc {rootfs}/proc && \
         exec chroot {rootfs} /usr/bin/env -i \
         PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
         IP={ip} ETCD_ENDPOINTS={etcd} RUST_LOG=info {entrypoint}"
    );
    s.start_rrd_with(
        "unshare",
        &[
            "--mount",
            "--pid",
            "--fork",
            "--kill-child=SIGTERM",
            "sh",
            "-c",
            &script,
        ],
    );
    s.wait_ready(Duration::from_secs(60));
    s.start_clients();
    s.check_reflection();
    let status = s.status();
    println!(
        "image's rrd: engine {} ({}), source {} {}",
        status["engine"]["kind"],
        status["engine"]["version"],
        status["source"]["kind"],
        status["source"]["location"]
    );
    for c in &s.clients {
        println!(
            "{} ({}) learned: {:?}",
            c.host.name,
            c.host.ipv4,
            c.host.bird_routes()
        );
    }
}
