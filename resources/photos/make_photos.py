#!/usr/bin/python3
"""Regenerates vitscope's demo photos (resources/photos) from Debian's packages.

Every photo comes from a Debian 12 package whose data states a licence that allows
redistribution; the source, the licence and the words it is stated in go into
photos.json beside the files (and SOURCES.md for people). Each photo is scaled to at
most 512 pixels on its long side (Lanczos) and saved as JPEG, quality 88.

Run as: /usr/bin/python3 resources/photos/make_photos.py   (needs apt-get and python3-pil)
"""
import bz2
import glob
import json
import os
import subprocess
import sys
import tempfile

from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
SKIMAGE = "usr/lib/python3/dist-packages/skimage/data/"
SKLEARN = "usr/lib/python3/dist-packages/sklearn/datasets/images/"
SCIPY = "usr/lib/python3/dist-packages/scipy/misc/"

# file, label (a class name a zero-shot demo can use), title, package, path in the
# package, licence, the licence as the package states it.
PHOTOS = [
    ("astronaut.jpg", "astronaut", "Eileen Collins, NASA astronaut", "python3-skimage", SKIMAGE + "astronaut.png",
     "public domain", "skimage.data.astronaut: NASA Great Images database; \"No known copyright restrictions, "
     "released into the public domain.\""),
    ("cat.jpg", "cat", "Chelsea the cat", "python3-skimage", SKIMAGE + "chelsea.png",
     "CC0", "skimage.data.chelsea: \"No copyright restrictions. CC0 by the photographer (Stefan van der Walt).\""),
    ("coffee.jpg", "coffee mug", "A cup of coffee (Pikolo Espresso Bar)", "python3-skimage", SKIMAGE + "coffee.png",
     "CC0", "skimage.data.coffee: \"No copyright restrictions. CC0 by the photographer (Rachel Michetti).\""),
    ("rocket.jpg", "rocket", "Falcon 9 launching DSCOVR (SpaceX)", "python3-skimage", SKIMAGE + "rocket.jpg",
     "public domain", "skimage.data.rocket: \"The image was captured by SpaceX and released in the public "
     "domain.\""),
    ("galaxies.jpg", "galaxy", "Hubble eXtreme Deep Field (NASA)", "python3-skimage", SKIMAGE + "hubble_deep_field.jpg",
     "public domain", "skimage.data.hubble_deep_field: \"The image was captured by NASA and may be freely used "
     "in the public domain.\""),
    ("tissue.jpg", "microscope slide", "Colonic glands, IHC staining (CMMI)", "python3-skimage", SKIMAGE + "ihc.png",
     "no known copyright restrictions", "skimage.data.immunohistochemistry: \"No known copyright "
     "restrictions.\""),
    ("retina.jpg", "eye", "Fundus photograph of a normal left eye (Mikael Häggström)", "python3-skimage",
     SKIMAGE + "retina.jpg", "CC0", "skimage.data.retina: \"This file is made available under the Creative "
     "Commons CC0 1.0 Universal Public Domain Dedication.\""),
    ("coins.jpg", "coin", "Greek coins from Pompeii (Brooklyn Museum), grey", "python3-skimage", SKIMAGE + "coins.png",
     "no known copyright restrictions", "skimage.data.coins: Brooklyn Museum Collection; \"No known copyright "
     "restrictions.\""),
    ("camera.jpg", "camera", "A photographer with a camera (Lav Varshney), grey", "python3-skimage",
     SKIMAGE + "camera.png", "CC0", "skimage.data.camera: \"No copyright restrictions. CC0 by the photographer "
     "(Lav Varshney).\""),
    ("temple.jpg", "temple", "A temple in China (danielbuechele)", "python3-sklearn", SKLEARN + "china.jpg",
     "CC BY 2.0", "sklearn/datasets/images/README.txt: \"Released under a creative commons license. [1] "
     "Attribution: Some rights reserved by danielbuechele\", [1] https://creativecommons.org/licenses/by/2.0/, "
     "https://www.flickr.com/photos/danielbuechele/6061409035/"),
    ("flower.jpg", "flower", "A flower (vultilion)", "python3-sklearn", SKLEARN + "flower.jpg",
     "CC BY 2.0", "sklearn/datasets/images/README.txt: \"Released under a creative commons license. [1]\", "
     "[1] https://creativecommons.org/licenses/by/2.0/, photographer https://www.flickr.com/photos/vultilion/, "
     "https://www.flickr.com/photos/vultilion/6056698931/"),
    ("raccoon.jpg", "raccoon", "A raccoon's face", "python3-scipy", SCIPY + "face.dat",
     "public domain", "scipy.misc.face: \"raccoon-procyon-lotor.jpg at http://www.public-domain-image.com\""),
]


def read_image(root, path):
    full = os.path.join(root, path)
    if path.endswith("face.dat"):  # bz2 of 768 x 1024 x 3 bytes
        return Image.frombytes("RGB", (1024, 768), bz2.decompress(open(full, "rb").read()))
    return Image.open(full)


def main():
    with tempfile.TemporaryDirectory() as tmp:
        packages = sorted({p[3] for p in PHOTOS})
        subprocess.run(["apt-get", "download"] + packages, cwd=tmp, check=True)
        versions = {}
        for deb in glob.glob(os.path.join(tmp, "*.deb")):
            subprocess.run(["dpkg", "-x", deb, os.path.join(tmp, "root")], check=True)
            name, version = os.path.basename(deb).split("_")[:2]
            versions[name] = version
        manifest = []
        for file, label, title, package, path, licence, stated in PHOTOS:
            im = read_image(os.path.join(tmp, "root"), path)
            grey = im.mode in ("L", "I", "I;16", "1")
            im = im.convert("L" if grey else "RGB")
            scale = 512 / max(im.size)
            if scale < 1:
                im = im.resize((round(im.width * scale), round(im.height * scale)), Image.LANCZOS)
            im.save(os.path.join(HERE, file), "JPEG", quality=88, optimize=True)
            manifest.append({"file": file, "label": label, "title": title, "colour": not grey,
                             "width": im.width, "height": im.height,
                             "source": f"Debian 12 package {package} {versions[package]}, /{path}",
                             "licence": licence, "licence_as_stated": stated})
    with open(os.path.join(HERE, "photos.json"), "w") as f:
        json.dump({"version": 1, "photos": manifest}, f, indent=1, ensure_ascii=False)
        f.write("\n")
    with open(os.path.join(HERE, "SOURCES.md"), "w") as f:
        f.write("# Demo photos: sources and licences\n\n"
                "Made by `make_photos.py` from Debian 12's packages (scaled to at most 512 pixels on the long "
                "side, JPEG). Each photo's licence, as its package states it:\n\n"
                "| file | what | licence | source | as stated |\n| --- | --- | --- | --- | --- |\n")
        for p in manifest:
            f.write(f"| {p['file']} | {p['title']} | {p['licence']} | {p['source']} | {p['licence_as_stated']} |\n")
        f.write("\nThe CC BY 2.0 photos (temple.jpg, flower.jpg) are shipped with this attribution; the licence: "
                "https://creativecommons.org/licenses/by/2.0/\n")
    total = sum(os.path.getsize(os.path.join(HERE, p["file"])) for p in manifest)
    print(f"{len(manifest)} photos, {total / 1e6:.2f} MB")


if __name__ == "__main__":
    sys.exit(main())
