#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: filmopoisk.shs contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
module: yc_image_info
short_description: Find a Yandex Compute Cloud image (e.g. the latest Container Optimized Image)
version_added: 0.2.0
description:
  - Looks up one image, by O(image_id) or as the latest image of a O(family) in a folder (the API's
    C(GetLatestByFamily)), and returns it. Changes nothing.
  - The usual use is the boot disk of a COI instance group, the latest C(container-optimized-image) of the
    public folder C(standard-images) (what Terraform's C(data "yandex_compute_image") with C(family) gives).
options:
  family:
    description: Image family; the newest READY image of it in O(folder_id) is returned.
    type: str
  image_id:
    description: Image id; O(folder_id) is not used then.
    type: str
  folder_id:
    description:
      - Folder of the family. Defaults to the public C(standard-images), not to E(YC_FOLDER_ID).
      - C(module_defaults) for C(group/filmopoisk.shs.yc) that set O(folder_id) apply here too; set it on
        the task when the family is a public one.
    type: str
    default: standard-images
extends_documentation_fragment:
  - filmopoisk.shs.yc
  - filmopoisk.shs.yc.info_attributes
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.actiongroups
author:
  - filmopoisk.shs contributors (@filmopoisk)
'''

EXAMPLES = r'''
- name: The latest Container Optimized Image
  filmopoisk.shs.yc_image_info:
    family: container-optimized-image
    folder_id: standard-images
  register: coi

- name: Boot an instance group from it
  filmopoisk.shs.yc_instance_group:
    name: shs-app
    instance_template:
      boot_disk: {image_id: "{{ coi.image.id }}", size: 30}
      # ...

- name: One image by id
  filmopoisk.shs.yc_image_info:
    image_id: fd8abcdefghijklmnopq
  register: by_id
'''

RETURN = r'''
image:
  description: The image (sizes in bytes, as the API gives them).
  returned: always
  type: dict
  contains:
    id:
      description: Image id.
      type: str
      sample: fd8abcdefghijklmnopq
    folder_id:
      description: Folder.
      type: str
      sample: standard-images
    name:
      description: Name.
      type: str
      sample: container-optimized-image-v20261101
    family:
      description: Family.
      type: str
      sample: container-optimized-image
    description:
      description: Description.
      type: str
    labels:
      description: Labels.
      type: dict
    status:
      description: C(READY), C(CREATING), C(ERROR) or C(DELETING).
      type: str
      sample: READY
    min_disk_size:
      description: Smallest boot disk, bytes.
      type: int
      sample: 8589934592
    size:
      description: Size of the image, bytes.
      type: int
    os_type:
      description: C(LINUX) or C(WINDOWS).
      type: str
      sample: LINUX
    created_at:
      description: Creation time (RFC 3339).
      type: str
'''

from ansible_collections.filmopoisk.shs.plugins.module_utils.yc import YCError, YCModule

try:
    from yandex.cloud.compute.v1 import image_pb2, image_service_pb2 as svc
    from yandex.cloud.compute.v1.image_service_pb2_grpc import ImageServiceStub
except ImportError:
    pass  # YCModule reports the missing SDK


def image_to_user(image):
    return dict(id=image.id, folder_id=image.folder_id, name=image.name, family=image.family,
                description=image.description, labels=dict(image.labels),
                status=image_pb2.Image.Status.Name(image.status),
                min_disk_size=image.min_disk_size, size=image.storage_size or image.size,
                os_type=image_pb2.Os.Type.Name(image.os.type), created_at=image.created_at.ToJsonString())


def main():
    module = YCModule(
        waits=False,
        argument_spec=dict(
            family=dict(type='str'),
            image_id=dict(type='str'),
            # Replaces the shared option: public families live in standard-images, not in one's own folder.
            folder_id=dict(type='str', default='standard-images'),
        ),
        mutually_exclusive=[['family', 'image_id']],
        required_one_of=[['family', 'image_id']],
        supports_check_mode=True,
    )
    params = module.params
    try:
        if params['image_id']:
            image = module.yc.call(ImageServiceStub, 'Get', svc.GetImageRequest(image_id=params['image_id']),
                                   'image %s' % params['image_id'])
        else:
            if not params['folder_id']:
                raise YCError('folder_id must not be empty with family')
            image = module.yc.call(ImageServiceStub, 'GetLatestByFamily',
                                   svc.GetImageLatestByFamilyRequest(folder_id=params['folder_id'],
                                                                     family=params['family']),
                                   "of image family '%s' in folder %s" % (params['family'], params['folder_id']))
    except YCError as exc:
        module.fail_json(msg=exc.msg, **exc.extra)
    module.exit_json(changed=False, image=image_to_user(image))


if __name__ == '__main__':
    main()
